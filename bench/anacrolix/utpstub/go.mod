// Stand-in for github.com/anacrolix/go-utp, which the module proxy refuses.
module github.com/anacrolix/go-utp

go 1.26.0
