package loadtest

import (
	"errors"
	"net"
)

func asOp(err error, op **net.OpError) bool { return errors.As(err, op) }
