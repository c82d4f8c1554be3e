package oracle

import (
	"fmt"
	"os/exec"
	"strings"
)

func pythonOutput(src string, args ...string) (string, error) {
	out, err := exec.Command(Python, append([]string{"-c", src}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("python: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
