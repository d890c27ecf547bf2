// The arm64 guest's /init (scripts/arm64-vm.sh): Debian's mkinitramfs takes
// over half an hour under qemu-user, so the initramfs is this static program
// and the few modules that mount the root: it loads them (in order, the
// modules named in the initramfs's /modules), mounts /dev/vda (ext4) and runs
// the kernel's init= from it.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "initramfs: "+f+"\n", a...)
	time.Sleep(time.Second)
	os.Exit(1)
}

func main() {
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	syscall.Mount("proc", "/proc", "proc", 0, "")
	list, err := os.ReadFile("/modules")
	if err != nil {
		fail("%v", err)
	}
	for _, m := range strings.Fields(string(list)) {
		f, err := os.Open("/" + m)
		if err != nil {
			fail("%v", err)
		}
		noParams := []byte{0}
		_, _, e := syscall.Syscall(syscall.SYS_FINIT_MODULE, f.Fd(),
			uintptr(unsafe.Pointer(&noParams[0])), 0)
		f.Close()
		if e != 0 && e != syscall.EEXIST {
			fail("finit_module %s: %v", m, e)
		}
	}
	init := "/sbin/init"
	cmdline, _ := os.ReadFile("/proc/cmdline")
	for _, a := range strings.Fields(string(cmdline)) {
		if strings.HasPrefix(a, "init=") {
			init = a[5:]
		}
	}
	os.MkdirAll("/root", 0o755)
	for i := 0; ; i++ {
		if err = syscall.Mount("/dev/vda", "/root", "ext4", 0, ""); err == nil {
			break
		}
		if i == 100 {
			fail("mount /dev/vda: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Unmount("/proc", 0)
	syscall.Mount("/dev", "/root/dev", "", syscall.MS_MOVE, "")
	if err := syscall.Chdir("/root"); err != nil {
		fail("%v", err)
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		fail("move root: %v", err)
	}
	if err := syscall.Chroot("."); err != nil {
		fail("chroot: %v", err)
	}
	syscall.Chdir("/")
	fail("exec %s: %v", init, syscall.Exec(init, []string{init}, os.Environ()))
}
