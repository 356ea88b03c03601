// Package jspromise waits for JavaScript promises from Go, in the browser
// build (GOOS=js): the bindings of the browser engine (WebRTC through the
// page, web seeds through fetch, OPFS storage) all wait on promises the
// browser settles.
package jspromise
