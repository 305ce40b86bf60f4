// Package verify checks, for CI and monitoring: that every patch applies to
// every vendor zopectl it claims, that an install is as zenpatch means it to
// be (patch current, ZOPES as wanted, instance configs fresh, hook in
// place), and that its instances and balancer answer. Results are a Report
// printed as a table, JSON or JUnit XML, with one exit code.
package verify

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Status of one check.
type Status string

// Check results, from best to worst for the exit code: conflict wins over
// error, error over drift.
const (
	OK       Status = "ok"
	Skipped  Status = "skipped"
	Drift    Status = "drift"    // exit 2: not as it should be; 'zenpatch apply' or a restart fixes it
	Error    Status = "error"    // exit 1: broken
	Conflict Status = "conflict" // exit 3: a patch does not fit
	// Unsupported is an install zenpatch does not serve (its version, or a
	// web tier run by another program than zopectl): exit 3, and not an
	// error of zenpatch's.
	Unsupported Status = "unsupported"
)

// Check is one verified fact.
type Check struct {
	Group    string        `json:"group"` // "patch-set", "install", "live"
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"duration_ns"`
}

// Report is a list of checks.
type Report struct {
	Checks []Check `json:"checks"`
}

// Add appends a check.
func (r *Report) Add(group, name string, st Status, detail string, d time.Duration) {
	r.Checks = append(r.Checks, Check{Group: group, Name: name, Status: st, Detail: detail, Duration: d})
}

// Worst is the most serious status among the checks, by precedence:
// conflict, then error, then drift; OK when there is none of those.
func (r *Report) Worst() Status {
	worst, rank := OK, 0
	for _, c := range r.Checks {
		if n := map[Status]int{Drift: 1, Error: 2, Unsupported: 3, Conflict: 4}[c.Status]; n > rank {
			worst, rank = c.Status, n
		}
	}
	return worst
}

// Failure is a report whose worst check is not ok: Worst is drift, error
// or conflict. The command maps it to its exit code.
type Failure struct{ Worst Status }

// Error implements error.
func (f *Failure) Error() string { return "verify: " + string(f.Worst) }

// Err is nil when every check is ok or skipped, else a *Failure.
func (r *Report) Err() error {
	if w := r.Worst(); w != OK {
		return &Failure{Worst: w}
	}
	return nil
}

// Counts returns how many checks have each status.
func (r *Report) Counts() map[Status]int {
	m := map[Status]int{}
	for _, c := range r.Checks {
		m[c.Status]++
	}
	return m
}

// WriteText prints a table, one check a line, and a summary.
func (r *Report) WriteText(w io.Writer) {
	width := 5
	for _, c := range r.Checks {
		width = max(width, len(c.Group)+1+len(c.Name))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-*s  %-8s %s\n", width, c.Group+"/"+c.Name, c.Status, c.Detail)
	}
	n := r.Counts()
	fmt.Fprintf(w, "%d checks: %d ok, %d drift, %d conflict, %d error, %d skipped", len(r.Checks), n[OK], n[Drift], n[Conflict], n[Error], n[Skipped])
	if n[Unsupported] > 0 {
		fmt.Fprintf(w, ", %d unsupported", n[Unsupported])
	}
	fmt.Fprintln(w)
}

// jsonReport is the stable --json form.
type jsonReport struct {
	OK       bool    `json:"ok"`
	ExitCode int     `json:"exit_code"`
	Checks   []Check `json:"checks"`
}

// WriteJSON prints the report as JSON: {"ok", "exit_code", "checks": [...]},
// with the exit code the command gives it.
func (r *Report) WriteJSON(w io.Writer, exitCode int) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	checks := r.Checks
	if checks == nil {
		checks = []Check{}
	}
	return enc.Encode(jsonReport{OK: r.Err() == nil, ExitCode: exitCode, Checks: checks})
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Errors  int          `xml:"errors,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name    string      `xml:"name,attr"`
	Tests   int         `xml:"tests,attr"`
	Fails   int         `xml:"failures,attr"`
	Errors  int         `xml:"errors,attr"`
	Skipped int         `xml:"skipped,attr"`
	Time    string      `xml:"time,attr"`
	Cases   []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML (one testsuite per group) that CI systems
// render: drift and conflict are failures, error is an error.
func (r *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "zenpatch verify"}
	idx := map[string]int{}
	for _, c := range r.Checks {
		i, ok := idx[c.Group]
		if !ok {
			i = len(out.Suites)
			idx[c.Group] = i
			out.Suites = append(out.Suites, junitSuite{Name: "zenpatch." + c.Group})
		}
		s := &out.Suites[i]
		tc := junitCase{Name: c.Name, Classname: "zenpatch." + c.Group, Time: secs(c.Duration), Output: c.Detail}
		p := &junitProblem{Message: firstLine(c.Detail), Type: string(c.Status), Text: c.Detail}
		switch c.Status {
		case Drift, Conflict, Unsupported:
			tc.Failure = p
			s.Fails++
			out.Fails++
		case Error:
			tc.Error = p
			s.Errors++
			out.Errors++
		case Skipped:
			tc.Skipped = p
			s.Skipped++
		}
		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, tc)
	}
	for i := range out.Suites {
		var d time.Duration
		for _, c := range r.Checks {
			if "zenpatch."+c.Group == out.Suites[i].Name {
				d += c.Duration
			}
		}
		out.Suites[i].Time = secs(d)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// WriteJUnitFile writes the report as JUnit XML to path. A regular file
// (or a new one) is replaced atomically: a temp file in the same
// directory, then a rename, with the old file's mode (0644 for a new one),
// so a CI job never reads half a report. Anything else there (/dev/stdout,
// a FIFO) is written to as it is, never replaced.
func (r *Report) WriteJUnitFile(path string) error {
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = r.WriteJUnit(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	mode := os.FileMode(0o644)
	if err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	err = r.WriteJUnit(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
