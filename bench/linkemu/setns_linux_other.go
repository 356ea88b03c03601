//go:build linux && !amd64 && !arm64

package linkemu

// sysSetns is unknown here (the syscall package lacks it): JoinNamespace
// fails, NewNamespace still works.
var sysSetns = -1
