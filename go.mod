module github.com/swarmcast/swarmcast

go 1.26
