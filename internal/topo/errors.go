package topo

import (
	"fmt"
	"strings"
)

// Pos is a position in a topology file, 1-based as editors show it.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is one problem in a topology file, anchored to the offending field.
type Error struct {
	File  string
	Pos   Pos
	Field string // dotted path of the field, e.g. "links[2].endpoints[0]"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Pos.Line)
		if e.Pos.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Pos.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one file, in file order. Loading
// reports all of them at once so a user fixes a file in one pass.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// errs collects problems while walking a file.
type errs struct {
	file string
	list ErrorList
}

func (c *errs) add(pos Pos, field, format string, args ...any) {
	c.list = append(c.list, &Error{File: c.file, Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	sortErrors(c.list)
	return c.list
}
