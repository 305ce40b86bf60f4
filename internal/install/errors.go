package install

import (
	"errors"
	"io/fs"
)

var errNotExist = fs.ErrNotExist

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
