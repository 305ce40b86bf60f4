package zenoss

import "io/fs"

var errNotExist = fs.ErrNotExist
