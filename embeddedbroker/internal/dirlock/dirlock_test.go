package dirlock

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSecondLockerFails locks a directory, then runs this test binary
// again as a second process that must fail to lock it, naming the
// directory; once released, the second process succeeds.
func TestSecondLockerFails(t *testing.T) {
	if dir := os.Getenv("DIRLOCK_CHILD"); dir != "" {
		l, err := Acquire(dir)
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error())
			os.Exit(3)
		}
		l.Release()
		os.Exit(0)
	}
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSecondLockerFails$")
		cmd.Env = append(os.Environ(), "DIRLOCK_CHILD="+dir)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := child()
	if code != 3 || !strings.Contains(out, dir) || !strings.Contains(out, "in use by another process") {
		t.Fatalf("second process: exit %d, %q", code, out)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if out, code := child(); code != 0 {
		t.Fatalf("after release: exit %d, %q", code, out)
	}
}
