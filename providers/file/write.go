package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/orch-fleet/orch/fleet"
	"github.com/orch-fleet/orch/rpc"
)

type pathInput struct {
	Path string `json:"path"`
}

type writeInput struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    string `json:"mode"`
	Owner   string `json:"owner"`
	Group   string `json:"group"`
}

// wanted is what write must make true: mode, and uid/gid (-1: keep).
type wanted struct {
	mode     os.FileMode
	uid, gid int
}

// want resolves a write's mode, owner and group against what exists.
func want(in *writeInput, cur *current) (wanted, error) {
	w := wanted{mode: 0o644, uid: -1, gid: -1}
	if cur.exists {
		w.mode = cur.info.Mode().Perm()
	}
	if in.Mode != "" {
		m, _ := strconv.ParseUint(in.Mode, 8, 32) // the schema's pattern holds
		w.mode = os.FileMode(m)
	}
	var err error
	if in.Owner != "" {
		if w.uid, err = lookupID(in.Owner, user.Lookup, func(u *user.User) string { return u.Uid }); err != nil {
			return w, err
		}
	}
	if in.Group != "" {
		w.gid, err = lookupID(in.Group, user.LookupGroup, func(g *user.Group) string { return g.Gid })
	}
	return w, err
}

// lookupID resolves a user or group name, or passes a number through.
func lookupID[T any](name string, lookup func(string) (T, error), id func(T) string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	v, err := lookup(name)
	if err != nil {
		return 0, fleet.Errorf(fleet.StatusInvalidInput, "no user or group %q on this node", name)
	}
	return strconv.Atoi(id(v))
}

// changes lists what write would change.
func changes(cur *current, content []byte, w wanted) []string {
	if !cur.exists {
		return []string{"created"}
	}
	var ch []string
	if string(cur.content) != string(content) {
		ch = append(ch, "content")
	}
	if cur.info.Mode().Perm() != w.mode {
		ch = append(ch, "mode")
	}
	if w.uid >= 0 && w.uid != cur.uid {
		ch = append(ch, "owner")
	}
	if w.gid >= 0 && w.gid != cur.gid {
		ch = append(ch, "group")
	}
	return ch
}

func (h *Handler) write(_ context.Context, c *rpc.Call, in *writeInput) (*rpc.Result, error) {
	if len(in.Content) > h.maxSize {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "content is %d bytes, more than this node's max_size %d", len(in.Content), h.maxSize)
	}
	t, cur, err := h.inspect(in.Path)
	if err != nil {
		return nil, err
	}
	defer t.root.Close()
	if cur.exists && cur.content == nil {
		return nil, fleet.Errorf(fleet.StatusInvalidInput, "%s is %d bytes, more than this node's max_size %d: refusing to replace it", in.Path, cur.info.Size(), h.maxSize)
	}
	w, err := want(in, cur)
	if err != nil {
		return nil, err
	}
	ch := changes(cur, []byte(in.Content), w)
	diff := ""
	if h.showDiff && (len(ch) > 0 && (ch[0] == "created" || ch[0] == "content")) {
		diff = Diff(in.Path, in.Path, string(cur.content), in.Content)
	}
	if len(ch) == 0 {
		return result(false, in.Path+" already as wanted", cur.data(in.Path), nil, ""), nil
	}
	if c.NoOp {
		return result(true, fmt.Sprintf("would change %s: %s", in.Path, strings.Join(ch, ", ")), cur.data(in.Path), ch, diff), nil
	}
	if ch[0] == "created" || ch[0] == "content" {
		err = t.replace([]byte(in.Content), w, cur)
	} else {
		err = t.setAttrs(t.rel, w)
	}
	if err != nil {
		return nil, fleet.Errorf(fleet.StatusAborted, "%s: %v", in.Path, err)
	}
	after, err := t.stat(h.maxSize)
	if err != nil {
		return nil, err
	}
	return result(true, fmt.Sprintf("changed %s: %s", in.Path, strings.Join(ch, ", ")), after.data(in.Path), ch, diff), nil
}

// result is the reply of write and remove.
func result(changed bool, msg string, data map[string]any, ch []string, diff string) *rpc.Result {
	if ch == nil {
		ch = []string{}
	}
	data["changes"], data["diff"] = ch, diff
	return &rpc.Result{Changed: changed, Message: msg, Data: data}
}

// replace writes content to a new temporary file in the target's
// directory, gives it its mode and owner (the old file's owner unless
// another is wanted), syncs it and renames it over the target, so that
// readers see the old file or the new one, never a part.
func (t *target) replace(content []byte, w wanted, cur *current) (err error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(t.rel), "."+filepath.Base(t.rel)+".orch-"+hex.EncodeToString(rnd[:]))
	f, err := t.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = t.root.Remove(tmp)
		}
	}()
	if _, err = f.Write(content); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if cur.exists {
		w.uid, w.gid = keep(w.uid, cur.uid), keep(w.gid, cur.gid)
	}
	if err = t.setAttrs(tmp, w); err != nil {
		return err
	}
	if err = t.root.Rename(tmp, t.rel); err != nil {
		return err
	}
	if d, derr := t.root.Open(filepath.Dir(t.rel)); derr == nil {
		_ = d.Sync() // make the rename durable
		_ = d.Close()
	}
	return nil
}

func keep(want, have int) int {
	if want < 0 {
		return have
	}
	return want
}

// setAttrs sets mode, and owner and group where wanted.
func (t *target) setAttrs(rel string, w wanted) error {
	if w.uid >= 0 || w.gid >= 0 {
		if err := t.root.Lchown(rel, w.uid, w.gid); err != nil {
			return err
		}
	}
	return t.root.Chmod(rel, w.mode)
}

func (h *Handler) remove(_ context.Context, c *rpc.Call, in *pathInput) (*rpc.Result, error) {
	t, cur, err := h.inspect(in.Path)
	if err != nil {
		return nil, err
	}
	defer t.root.Close()
	if !cur.exists {
		return result(false, in.Path+" does not exist", cur.data(in.Path), nil, ""), nil
	}
	diff := ""
	if h.showDiff {
		diff = Diff(in.Path, "/dev/null", string(cur.content), "")
	}
	if c.NoOp {
		return result(true, "would remove "+in.Path, cur.data(in.Path), []string{"removed"}, diff), nil
	}
	if err := t.root.Remove(t.rel); err != nil {
		return nil, fleet.Errorf(fleet.StatusAborted, "removing %s: %v", in.Path, err)
	}
	return result(true, "removed "+in.Path, (&current{}).data(in.Path), []string{"removed"}, diff), nil
}

// ownerOf returns a file's uid and gid.
func ownerOf(fi os.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// userName and groupName name an id, or give the number.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}
