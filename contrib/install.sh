#!/bin/sh
# `make install` and `make uninstall` of honeytrap-rs (run by the Makefile, which passes
# every directory in the environment; this script is not installed itself).
#
# install    checks that $BIN is the binary `make` built for this SYSCONFDIR (it never
#            builds), installs it with the man pages, the configuration templates (an
#            existing honeytrap.conf or ports.conf is kept), the responses, cspm's
#            shellcode signatures and the service files, creates every directory the
#            shipped configuration names and, as root without DESTDIR, gives those the
#            daemon writes to RUN_USER:RUN_GROUP. Every file it writes is listed with its
#            SHA-256, every directory it creates with its path, in
#            $DATADIR/honeytrap/install-manifest.
# uninstall  removes the files of that list that are unchanged, then the directories of
#            the list that are empty; says which it keeps.
set -eu

action=$1
D=${DESTDIR:-}
CONFDIR=$SYSCONFDIR/honeytrap
SHAREDIR=$DATADIR/honeytrap
MANIFEST=$SHAREDIR/install-manifest

die() {
    echo "make $action: $*" >&2
    exit 1
}

sha() {
    sha256sum <"$1" | cut -d' ' -f1
}

# The templates' placeholders (contrib/README); honeytrap's own directories first.
subst() {
    sed -e "s|@LOGDIR@/honeytrap|$HT_LOGDIR|g" -e "s|@RUNDIR@/honeytrap|$HT_RUNDIR|g" \
        -e "s|@LOCALSTATEDIR@/lib/honeytrap|$HT_STATEDIR|g" \
        -e "s|@SBINDIR@|$SBINDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
        -e "s|@LOCALSTATEDIR@|$LOCALSTATEDIR|g" -e "s|@DATADIR@|$DATADIR|g" \
        -e "s|@LOGDIR@|$LOGDIR|g" -e "s|@RUNDIR@|$RUNDIR|g" \
        -e "s|^user  = \"nobody\"\$|user  = \"$RUN_USER\"|" \
        -e "s|^group = \"nogroup\"\$|group = \"$RUN_GROUP\"|" \
        -e "s|^HT_USER=nobody\$|HT_USER=$RUN_USER|" -e "s|^HT_GROUP=nogroup\$|HT_GROUP=$RUN_GROUP|" \
        "$1"
}

# The binary must exist, be newer than every source cargo built it from (cargo's dep-info
# file beside it) and have been built by `make` for the configuration path of this install.
check_binary() {
    [ -f "$BIN" ] && [ -x "$BIN" ] ||
        die "$BIN does not exist: run \`make\` first (install never builds)."
    if [ -r "$BIN.d" ]; then
        for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$BIN.d"); do
            if [ "$f" -nt "$BIN" ]; then
                die "$BIN is older than $f: run \`make\` first (install never builds)."
            fi
        done
    fi
    built=$(cat "$BIN.config-path" 2>/dev/null) || built=
    if [ -z "$built" ] || [ "$BIN" -nt "$BIN.config-path" ]; then
        die "$BIN was not built by \`make\` (no $BIN.config-path, or an older one): run \`make\` first, with the PREFIX and SYSCONFDIR of the install."
    fi
    [ "$built" = "$CONFDIR/honeytrap.conf" ] ||
        die "$BIN reads $built when no -C is given, but this install puts the configuration in $CONFDIR/honeytrap.conf: run \`make\` with the same PREFIX (and SYSCONFDIR) as \`make install\`."
}

# Creates directory $1 (and its missing parents) with mode $2 (0755) and records each one
# it creates.
mkd() {
    [ -d "$D$1" ] && return 0
    mkd "$(dirname "$1")" 0755
    mkdir -m "${2:-0755}" "$D$1"
    echo "d $1" >>"$new"
}

# Installs file $2 as $3 with mode $1 and records its checksum.
put() {
    install -m "$1" "$2" "$D$3"
    echo "f $(sha "$D$3") $3" >>"$new"
}

# The manifest line of file $1 from an earlier install, if any.
old_entry() {
    if [ -r "$old" ]; then awk -v p="$1" '$1 == "f" && substr($0, 68) == p' "$old"; fi
}

# Installs file $2 as $3 like put, unless $3 exists, differs, and was not written unchanged
# by an earlier install (an edited response or signature file): that stays, and $2 goes to
# $3.dist.
put_keep() {
    if [ -f "$D$3" ] && [ "$(sha "$D$3")" != "$(sha "$2")" ]; then
        was=$(old_entry "$3")
        if [ "$was" != "f $(sha "$D$3") $3" ]; then
            echo "Kept $D$3 (changed since make install; the new version is ${3##*/}.dist)."
            if [ -n "$was" ]; then echo "$was" >>"$new"; fi
            put "$1" "$2" "$3.dist"
            return 0
        fi
    fi
    put "$@"
}

do_install() {
    check_binary
    umask 022
    mkdir -p "${D:-/}"
    old=$D$MANIFEST
    new=$(mktemp)
    tmp=$(mktemp)
    trap 'rm -f "$new" "$tmp"' EXIT
    # The directories an earlier install created are still ours.
    if [ -r "$old" ]; then
        sed -n 's/^d //p' "$old" | while read -r dir; do
            if [ -d "$D$dir" ]; then echo "d $dir"; fi
        done >>"$new"
    fi
    attacks=$HT_STATEDIR/attacks
    downloads=$HT_STATEDIR/downloads
    for dir in "$SBINDIR" "$MANDIR/man8" "$MANDIR/man5" "$CONFDIR/responses" "$CONFDIR/plugins" \
        "$SHAREDIR" "$HT_RUNDIR"; do
        mkd "$dir" 0755
    done
    for dir in "$HT_LOGDIR" "$attacks" "$downloads"; do
        mkd "$dir" 0750
    done

    put 0755 "$BIN" "$SBINDIR/honeytrap"
    put 0644 man/honeytrap.8 "$MANDIR/man8/honeytrap.8"
    put 0644 man/honeytrap.conf.5 "$MANDIR/man5/honeytrap.conf.5"
    for f in contrib/responses/*_tcp contrib/responses/*_udp; do
        if [ -f "$f" ]; then put_keep 0644 "$f" "$CONFDIR/responses/${f##*/}"; fi
    done
    put_keep 0644 contrib/shellcode-signatures.sc "$CONFDIR/shellcode-signatures.sc"
    for f in honeytrap.conf ports.conf; do
        subst "contrib/$f.dist" >"$tmp"
        put 0644 "$tmp" "$CONFDIR/$f.dist"
        if [ -e "$D$CONFDIR/$f" ]; then
            echo "Kept $D$CONFDIR/$f (exists; the new template is $f.dist)."
            # Still ours if an earlier install wrote it.
            old_entry "$CONFDIR/$f" >>"$new"
        else
            put 0644 "$tmp" "$CONFDIR/$f"
        fi
    done
    for f in honeytrap.init honeytrap.service honeytrap.logrotate honeytrap.sysusers honeytrap.tmpfiles; do
        subst "contrib/$f" >"$tmp"
        put 0644 "$tmp" "$SHAREDIR/$f"
    done
    chmod 0755 "$D$SHAREDIR/honeytrap.init"
    put 0644 contrib/honeytrap.sql "$SHAREDIR/honeytrap.sql"

    # The directories the daemon writes to after dropping its privileges: the pid file's
    # (to remove it at stop), the logs' (to reopen them after rotation), attacks, downloads.
    if [ -n "$D" ]; then
        echo "DESTDIR is set: directory owners are left to honeytrap.sysusers and honeytrap.tmpfiles (or the package's scripts)."
    elif [ "$(id -u)" != 0 ]; then
        echo "Not root: the directories stay $(id -un)'s; the daemon's user must be able to write to $HT_RUNDIR, $HT_LOGDIR, $attacks and $downloads."
    elif ! id -u "$RUN_USER" >/dev/null 2>&1 || ! getent group "$RUN_GROUP" >/dev/null 2>&1; then
        echo "User $RUN_USER or group $RUN_GROUP does not exist: create them (honeytrap.sysusers) and give them $HT_RUNDIR, $HT_LOGDIR, $attacks and $downloads."
    else
        for dir in "$HT_RUNDIR" "$HT_LOGDIR" "$attacks" "$downloads"; do
            if grep -qxF "d $dir" "$new"; then
                chown "$RUN_USER:$RUN_GROUP" "$dir"
            else
                echo "Left $dir as it was (not created by make install): $RUN_USER must be able to write to it."
            fi
        done
    fi
    sort -u "$new" >"$tmp"
    install -m 0644 "$tmp" "$D$MANIFEST"
}

do_uninstall() {
    [ -r "$D$MANIFEST" ] ||
        die "$D$MANIFEST does not exist: nothing here was installed by make install with these directories."
    list=$(mktemp)
    trap 'rm -f "$list"' EXIT
    cp "$D$MANIFEST" "$list"
    rm -f "$D$MANIFEST"
    while read -r kind sum path; do
        [ "$kind" = f ] && [ -f "$D$path" ] || continue
        if [ "$(sha "$D$path")" = "$sum" ]; then
            rm -f "$D$path"
        else
            echo "Kept $D$path: changed since make install."
        fi
    done <"$list"
    # Directories, deepest first, if empty.
    sed -n 's/^d //p' "$list" | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r dir; do
            rmdir "$D$dir" 2>/dev/null && continue
            if [ -d "$D$dir" ] && [ -n "$(find "$D$dir" -mindepth 1 -maxdepth 1 ! -type d)" ]; then
                echo "Kept $D$dir: not empty."
            fi
        done
}

case $action in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) die "usage: install.sh install|uninstall" ;;
esac
