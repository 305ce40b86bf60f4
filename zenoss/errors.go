package zenoss

import (
	"errors"
	"io/fs"
)

var errorsIs = errors.Is

var errNotExist = fs.ErrNotExist

func isNotExist(err error) bool { return errorsIs(err, fs.ErrNotExist) }
