// Package file is the provider of the "file" agent: a file's content,
// mode and owner, written atomically (a temporary file in the same
// directory, renamed over the target), only below the directories the
// node config allows. Every path is opened through an os.Root of its
// allowed directory, so neither ".." nor a symlink can lead outside it,
// and the file itself must not be a symlink. Under no-op the reply
// carries a unified diff of what would change.
package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-fleet/orch/ddl"
	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/providers"
	"github.com/orch-fleet/orch/providers/action"
	"github.com/orch-fleet/orch/rpc"
)

// Patterns of the inputs: an absolute path, a mode of permission bits
// only (no setuid, setgid or sticky bit), a user or group name or number.
const (
	PathPattern  = `^/[^\x00]*$`
	ModePattern  = `^0?[0-7]{3}$`
	OwnerPattern = `^([a-z_][a-z0-9_.-]*[$]?|[0-9]+)$`
)

// DefaultMaxSize is the largest content write accepts by default.
const DefaultMaxSize = 1 << 20

// Spec returns the provider's spec for the node daemon.
func Spec() providers.Spec {
	return providers.Spec{Name: "file", Schema: Schema, New: New,
		Actions: func() providers.ActionTable { return actions() }}
}

// Schema returns the file agent's actions.
func Schema() *ddl.Agent { return actions().Schema() }

func pathArg() ddl.Input {
	return ddl.Input{Name: "path", Type: ddl.String, Required: true, Pattern: PathPattern, MaxLength: 4096,
		Description: "an absolute, clean path below one of the provider's allowed paths"}
}

// actions declares the file agent: each action's schema beside its handler.
func actions() *action.Table[*Handler] {
	state := []ddl.Output{
		{Name: "path", Type: ddl.String},
		{Name: "exists", Type: ddl.Boolean},
		{Name: "mode", Type: ddl.String, Description: "e.g. 0644"},
		{Name: "owner", Type: ddl.String},
		{Name: "group", Type: ddl.String},
		{Name: "size", Type: ddl.Integer},
		{Name: "sha256", Type: ddl.String, Description: "of the content, hex"},
	}
	changeOut := append(state,
		ddl.Output{Name: "changes", Type: ddl.List, Description: "what changed (or would): created, content, mode, owner, group, removed"},
		ddl.Output{Name: "diff", Type: ddl.String, Description: "unified diff of the content (\"\" when show_diff = false)"})
	return action.NewTable(ddl.Agent{
		Name:        "file",
		Description: "Files below allowed directories: content, mode and owner, written atomically; a diff under no-op.",
		Version:     "1.0.0",
	},
		action.New(&ddl.Action{Name: "status", Description: "Whether the file exists, its mode, owner, size and checksum.",
			Inputs: []ddl.Input{pathArg()}, Outputs: state}, (*Handler).status),
		action.New(&ddl.Action{Name: "write", Mutates: true, Description: "Make the file hold content, with mode and owner; nothing when it already does.",
			Inputs: []ddl.Input{pathArg(),
				{Name: "content", Type: ddl.String, Required: true, MaxLength: DefaultMaxSize, Description: "the whole content"},
				{Name: "mode", Type: ddl.String, Pattern: ModePattern, Description: "permission bits, e.g. 0644; unset: kept, 0644 for a new file"},
				{Name: "owner", Type: ddl.String, Pattern: OwnerPattern, MaxLength: 64, Description: "user name or uid; unset: kept (the agent's user for a new file)"},
				{Name: "group", Type: ddl.String, Pattern: OwnerPattern, MaxLength: 64, Description: "group name or gid; unset: kept"},
			}, Outputs: changeOut}, (*Handler).write),
		action.New(&ddl.Action{Name: "remove", Mutates: true, Description: "Remove the file; nothing when it does not exist.",
			Inputs: []ddl.Input{pathArg()}, Outputs: changeOut}, (*Handler).remove),
	)
}

// config is the `provider "file" { ... }` block of the node config.
type config struct {
	// Paths are the directories below which files may be managed.
	Paths    []string `hcl:"paths"`
	MaxSize  int      `hcl:"max_size,optional"`
	ShowDiff *bool    `hcl:"show_diff,optional"`
}

// Handler serves the file agent.
type Handler struct {
	actions  *action.Table[*Handler]
	paths    []string // clean absolute directories
	maxSize  int
	showDiff bool
}

// New decodes the provider block.
func New(body hcl.Body, _ providers.Env) (rpc.Handler, hcl.Diagnostics) {
	var c config
	if diags := providers.Decode(body, &c); diags.HasErrors() {
		return nil, diags
	}
	h := &Handler{actions: actions(), maxSize: DefaultMaxSize, showDiff: c.ShowDiff == nil || *c.ShowDiff}
	if c.MaxSize < 0 || c.MaxSize > DefaultMaxSize {
		return nil, providers.Invalid(body, "Invalid file max_size", "max_size must be between 1 and %d bytes, got %d.", DefaultMaxSize, c.MaxSize)
	}
	if c.MaxSize > 0 {
		h.maxSize = c.MaxSize
	}
	if len(c.Paths) == 0 {
		return nil, providers.Invalid(body, "No file paths", "the file provider needs paths: the directories below which it may manage files.")
	}
	for _, p := range c.Paths {
		fi, err := os.Stat(p)
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" || err != nil || !fi.IsDir() {
			return nil, providers.Invalid(body, "Invalid file path", "paths entry %q must be an existing directory given as a clean absolute path other than / (%v).", p, err)
		}
		h.paths = append(h.paths, p)
	}
	return h, nil
}

// Schema returns the agent's schema.
func (h *Handler) Schema() *ddl.Agent { return h.actions.Schema() }

// Handle runs an action.
func (h *Handler) Handle(ctx context.Context, c *rpc.Call) (*rpc.Result, error) {
	return h.actions.Handle(ctx, h, c)
}

// target is a path inside an allowed directory, opened as a root.
type target struct {
	root *os.Root
	rel  string // path relative to root
	path string
}

// open finds the allowed directory holding path and opens it as a root.
// Paths that are not clean, or outside every allowed directory, are
// invalid_input.
func (h *Handler) open(path string) (*target, error) {
	if filepath.Clean(path) != path {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "path %q is not clean (use %q)", path, filepath.Clean(path))
	}
	for _, d := range h.paths {
		rel, err := filepath.Rel(d, path)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		root, err := os.OpenRoot(d)
		if err != nil {
			return nil, fleet.Errorf(fleet.StatusAborted, "opening %s: %v", d, err)
		}
		return &target{root: root, rel: rel, path: path}, nil
	}
	return nil, fleet.Errorf(fleet.StatusInvalidInput, "path %s is outside the directories this node manages files in (%s)", path, strings.Join(h.paths, ", "))
}

// current is what is at the target now.
type current struct {
	exists     bool
	info       os.FileInfo
	content    []byte
	uid, gid   int
	owner, grp string
}

// stat reads the target; anything but a regular file (a symlink, a
// directory, a device) is refused, as is a path leading out of the root.
// inspect opens path and reads what is there; the caller closes
// t.root.
func (h *Handler) inspect(path string) (*target, *current, error) {
	t, err := h.open(path)
	if err != nil {
		return nil, nil, err
	}
	cur, err := t.stat(h.maxSize)
	if err != nil {
		t.root.Close()
		return nil, nil, err
	}
	return t, cur, nil
}

func (t *target) stat(maxSize int) (*current, error) {
	fi, err := t.root.Lstat(t.rel)
	if os.IsNotExist(err) {
		return &current{}, nil
	}
	if err != nil {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "%s: %v", t.path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "%s is not a regular file (%s): refusing to manage it", t.path, fi.Mode().Type())
	}
	cur := &current{exists: true, info: fi}
	cur.uid, cur.gid = ownerOf(fi)
	cur.owner, cur.grp = userName(cur.uid), groupName(cur.gid)
	if fi.Size() <= int64(maxSize) {
		if cur.content, err = t.root.ReadFile(t.rel); err != nil {
			return nil, fleet.Errorf(fleet.StatusAborted, "reading %s: %v", t.path, err)
		}
	}
	return cur, nil
}

// data is the reply data describing cur.
func (cur *current) data(path string) map[string]any {
	d := map[string]any{"path": path, "exists": cur.exists, "mode": "", "owner": "", "group": "", "size": 0, "sha256": ""}
	if cur.exists {
		sum := sha256.Sum256(cur.content)
		d["mode"], d["owner"], d["group"] = fmt.Sprintf("%04o", cur.info.Mode().Perm()), cur.owner, cur.grp
		d["size"], d["sha256"] = cur.info.Size(), hex.EncodeToString(sum[:])
	}
	return d
}

func (h *Handler) status(_ context.Context, _ *rpc.Call, in *pathInput) (*rpc.Result, error) {
	t, cur, err := h.inspect(in.Path)
	if err != nil {
		return nil, err
	}
	defer t.root.Close()
	msg := in.Path + " does not exist"
	if cur.exists {
		msg = fmt.Sprintf("%s: %d bytes, mode %04o, %s:%s", in.Path, cur.info.Size(), cur.info.Mode().Perm(), cur.owner, cur.grp)
	}
	return &rpc.Result{Message: msg, Data: cur.data(in.Path)}, nil
}
