package cli

import (
	"fmt"
	"strings"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

// labArgs splits the arguments of a runtime lab command, `[LAB] A:IF
// rest...`: a first argument holding ":" is the endpoint, and the lab is
// --lab or, without it, the only lab of the state directory; otherwise the
// first argument names the lab (or a topology file naming it) and the
// second is the endpoint. Lab names cannot hold ":", so the two never mix.
func (a *app) labArgs(flagLab string, args []string) (name, endpoint string, rest []string, err error) {
	if len(args) == 0 {
		return "", "", nil, usageError{fmt.Errorf("name an interface as node:interface, e.g. r1:eth1")}
	}
	if strings.Contains(args[0], ":") {
		name, err = a.resolveLab(flagLab, "")
		return name, args[0], args[1:], err
	}
	if len(args) < 2 {
		return "", "", nil, usageError{fmt.Errorf("name an interface as node:interface after the lab %s, e.g. r1:eth1", args[0])}
	}
	name, err = a.resolveLab(flagLab, args[0])
	return name, args[1], args[2:], err
}

// resolveLab picks the lab from the LAB argument or --lab (which must then
// agree), or the only lab of the state directory.
func (a *app) resolveLab(flagLab, arg string) (string, error) {
	if arg != "" {
		name, err := labName(arg)
		if err != nil {
			return "", err
		}
		if flagLab != "" && flagLab != name {
			return "", usageError{fmt.Errorf("lab %s given twice, differently: LAB %s and --lab %s", name, name, flagLab)}
		}
		return name, nil
	}
	if flagLab != "" {
		if err := lab.CheckName(flagLab); err != nil {
			return "", usageError{fmt.Errorf("--lab: %w", err)}
		}
	}
	return lab.ResolveLab(a.labOptions(), flagLab)
}

// interfaceText is an interface in the inspect table: name, peer, state
// and, when impaired, what is done to the packets it sends.
func interfaceText(i lab.InterfaceStatus) string {
	s := strings.ToLower(i.State)
	if i.Impairment != nil {
		s += "; " + lab.FormatImpairment(*i.Impairment)
		if i.Impairment.Source == restv1.ImpairRuntime {
			s += " (runtime)"
		}
	}
	return fmt.Sprintf("%s>%s(%s)", i.Name, i.Peer, s)
}
