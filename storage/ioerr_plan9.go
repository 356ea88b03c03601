package storage

// Plan 9 reports errors as strings without numbers; keep the plain error.

func isNoSpace(error) bool  { return false }
func isReadOnly(error) bool { return false }
