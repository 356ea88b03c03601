package linkemu

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// TUN ioctl and flags, from linux/if_tun.h.
const (
	tunSetIff = 0x400454ca // TUNSETIFF
	iffTun    = 0x0001     // IFF_TUN: IP packets, no Ethernet header
	iffNoPI   = 0x1000     // IFF_NO_PI: no packet information prefix
)

// OpenTUN creates the TUN device name in the calling thread's network
// namespace (call it inside Namespace.Do for another namespace) and returns
// it open: each Read returns one IP packet, each Write sends one. The device
// goes away when the file is closed.
func OpenTUN(name string) (*os.File, error) {
	if len(name) >= syscall.IFNAMSIZ {
		return nil, fmt.Errorf("linkemu: device name %q too long", name)
	}
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("linkemu: open /dev/net/tun: %w", err)
	}
	var req struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	req.flags = iffTun | iffNoPI
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&req))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("linkemu: create TUN device %s: %w", name, e)
	}
	// Non-blocking, so the file goes through Go's poller and Close
	// unblocks a Read.
	return os.NewFile(uintptr(fd), "tun:"+name), nil
}

// Up gives the device name the address cidr ("10.99.0.1/24") and brings it
// and lo up, with ip(8), in the calling thread's network namespace.
func Up(name, cidr string) error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", cidr, "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("linkemu: ip %v: %v: %s", args, err, out)
		}
	}
	return nil
}

// Namespace is a network namespace held by one locked OS thread. What runs
// in Do (sockets, TUN devices, processes started) is in that namespace.
type Namespace struct {
	do   chan func()
	done chan struct{}
}

// NewNamespace makes a new, empty network namespace (it needs
// CAP_SYS_ADMIN, e.g. inside `unshare -rn`). It lasts until Close, or as
// long as something in it (a device, a socket, a process) is open.
func NewNamespace() (*Namespace, error) {
	return startNamespace(func() error { return syscall.Unshare(syscall.CLONE_NEWNET) })
}

// JoinNamespace enters the network namespace of the file path, such as
// /run/netns/NAME (`ip netns add NAME`) or /proc/PID/ns/net.
func JoinNamespace(path string) (*Namespace, error) {
	return startNamespace(func() error {
		if sysSetns < 0 {
			return fmt.Errorf("setns: not supported on %s", runtime.GOARCH)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(uintptr(sysSetns), f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			return fmt.Errorf("setns %s: %w", path, e)
		}
		return nil
	})
}

func startNamespace(enter func() error) (*Namespace, error) {
	ns := &Namespace{do: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// The thread never returns to the pool: it stays locked until this
		// goroutine ends, and then Go ends the thread with it.
		runtime.LockOSThread()
		defer close(ns.done)
		if err := enter(); err != nil {
			errc <- fmt.Errorf("linkemu: enter network namespace: %w", err)
			return
		}
		errc <- nil
		for f := range ns.do {
			f()
		}
	}()
	if err := <-errc; err != nil {
		<-ns.done
		return nil, err
	}
	return ns, nil
}

// Do runs f on the namespace's thread and returns its error. f must not
// start goroutines that need the namespace: they run on other threads.
func (ns *Namespace) Do(f func() error) error {
	errc := make(chan error, 1)
	ns.do <- func() { errc <- f() }
	return <-errc
}

// Close ends the namespace's thread. The namespace itself lasts while
// devices, sockets or processes in it remain.
func (ns *Namespace) Close() error {
	close(ns.do)
	<-ns.done
	return nil
}
