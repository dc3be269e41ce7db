package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/topo"
)

// Phases of a lab's life, stored in its state file.
const (
	PhaseDeploying = "deploying"
	PhaseRunning   = "running"
	// PhaseUpdating: a change of topology is being applied, or failed
	// half way (see State.Previous).
	PhaseUpdating = "updating"
)

// State is what sr6 remembers of a deployed lab. It is written before
// anything is created, so that a crash at any point leaves enough on disk
// for destroy to find every namespace and process.
type State struct {
	Name       string    `json:"name"`
	Source     string    `json:"source"`   // topology file it was deployed from
	Topology   string    `json:"topology"` // that file's text, so the lab outlives edits to it
	Hash       string    `json:"hash"`
	Phase      string    `json:"phase"`
	Namespaces []string  `json:"namespaces"`
	Agents     bool      `json:"agents,omitempty"`
	Controller string    `json:"controller,omitempty"` // REST URL of the lab's controller
	Deployed   time.Time `json:"deployed"`
	// Runtime changes (`sr6 lab impair`, `sr6 lab link set`; linkops.go),
	// kept so that inspect shows them and a deploy of the same topology
	// leaves them be: impairments set per egress interface (they replace
	// the topology's there), and links set down, by their A end.
	Impairments []restv1.Impairment `json:"impairments,omitempty"`
	LinksDown   []string            `json:"links_down,omitempty"`
	// Pins are the ids and subnets the topology is planned with, so that
	// nodes and links that stayed through a change keep their addresses
	// (see topo.Pins); none for a lab deployed from scratch.
	Pins *topo.Pins `json:"pins,omitempty"`
	// Previous is the topology a change started from while it is being
	// applied (PhaseUpdating): the next deploy of the same file finishes it.
	Previous *Previous `json:"previous,omitempty"`
}

// Previous is the topology a lab ran before a change.
type Previous struct {
	Source   string     `json:"source"`
	Topology string     `json:"topology"`
	Pins     *topo.Pins `json:"pins,omitempty"`
}

func topologyHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Store is the directory holding one folder per lab.
type Store struct{ Dir string }

// LabDir is the folder of lab name: state file, FRR configs, logs. A name
// that breaks the lab-name rule is refused, so no path built from it leaves
// s.Dir.
func (s Store) LabDir(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.Dir, name), nil
}

func (s Store) statePath(name string) (string, error) {
	l, err := s.Layout(name)
	if err != nil {
		return "", err
	}
	return l.State(), nil
}

// Load reads lab name's state; os.ErrNotExist if there is no such lab.
func (s Store) Load(name string) (*State, error) {
	path, err := s.statePath(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &NoLabError{Name: name, Dir: s.Dir}
		}
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w", path, err)
	}
	return &st, nil
}

// NoLabError says that a state directory has no lab of that name; it
// matches os.ErrNotExist.
type NoLabError struct{ Name, Dir string }

func (e *NoLabError) Error() string {
	return fmt.Sprintf("no lab %s in %s (labs are looked up in --state-dir)", e.Name, e.Dir)
}

func (e *NoLabError) Is(target error) bool { return target == os.ErrNotExist }

// Save writes st atomically (temporary file + rename), so a crash never
// leaves a torn state file.
func (s Store) Save(st *State) error {
	l, err := s.Layout(st.Name)
	if err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	dir := l.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save lab state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save lab state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	if err := os.Rename(tmp.Name(), l.State()); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	return nil
}

// List returns the names of labs with a state file.
func (s Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		// A folder someone made by hand under a name sr6 would refuse is
		// not a lab (and --all must not act on it).
		if e.IsDir() && CheckName(e.Name()) == nil {
			if _, err := os.Stat(Layout{Dir: filepath.Join(s.Dir, e.Name())}.State()); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	return names, nil
}

// Lock takes an exclusive lock on lab name so that two sr6 processes never
// deploy, destroy or change the same lab at once. Call the returned func to
// release it.
func (s Store) Lock(name string) (func(), error) {
	l, err := s.Layout(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock lab %s: %w", name, err)
	}
	f, err := os.OpenFile(l.Lock(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock lab %s: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock lab %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
