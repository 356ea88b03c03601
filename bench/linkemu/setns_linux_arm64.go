package linkemu

// sysSetns is setns(2)'s number on linux/arm64 (the syscall package lacks it).
const sysSetns = 268
