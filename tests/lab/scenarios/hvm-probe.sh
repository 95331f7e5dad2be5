# Exploratory, not a test (not in tests/lab-tests.txt): boots a full HVM guest through the
# device model, hvmloader and SeaBIOS and records its serial console, to see how far it gets.
# Exploratory: can a full HVM guest (device model + hvmloader + SeaBIOS) boot in the lab?
set -eu
. "$LAB_SCENARIOS/lib.sh"
cfg=$(guest_config hvmprobe hvm 1 256 "uname,-a")
sed -i 's/^extra=.*/extra="console=ttyS0 dmp.run=uname,-a"/' "$cfg"
{ echo 'serial="pty"'; echo 'vga="none"'; echo 'nographic=1'; echo 'vnc=0'; echo 'sdl=0'; } >> "$cfg"
cat "$cfg"
xl -vvv create "$cfg" || { echo "create failed"; ls /var/log/xen; cat /var/log/xen/qemu-dm-hvmprobe.log 2>/dev/null; exit 1; }
id=$(xl domid hvmprobe)
tty=$(xenstore-read /local/domain/$id/serial/0/tty 2>/dev/null || xenstore-read /local/domain/$id/console/tty)
echo "serial: $tty"
stty -F "$tty" raw -echo 2>/dev/null || true
cat "$tty" > "$LAB_OUT/hvm-serial.log" &
i=0
while [ $i -lt 120 ] && xl list hvmprobe >/dev/null 2>&1; do
    sleep 2; i=$((i + 1))
    [ $((i % 10)) = 0 ] && { xl list; tail -n 3 "$LAB_OUT/hvm-serial.log"; }
done
cat /var/log/xen/qemu-dm-hvmprobe.log 2>/dev/null | tail -20
xl dmesg | tail -30
