package service

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// envHelper makes the test binary act as a helper process (a daemon child
// or a privilege-drop subject) instead of running the tests.
const envHelper = "SERVICE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(envHelper) {
	case "":
		os.Exit(m.Run())
	case "ready":
		DaemonChild(os.Getenv).Ready()
		time.Sleep(time.Minute) // until the test kills us
		os.Exit(0)
	case "fail":
		DaemonChild(os.Getenv).Fail(errors.New("cannot open the device: boom"))
		os.Exit(1)
	case "exit":
		os.Exit(3)
	case "drop":
		os.Exit(dropHelper())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}
