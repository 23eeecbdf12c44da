package resources

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
)

// fileType builds file_write and file_remove: a file with a content, mode
// and owner, or no file, on the targets (by default every node serving
// the file agent).
func fileType(action, what string, extra ...Arg) *Type {
	name := "file_" + action
	return &Type{
		Name:        name,
		Description: what,
		Agent:       "file",
		Action:      action,
		Args:        append([]Arg{{Name: "path", Type: cty.String, Required: true, Description: "an absolute path below one of the nodes' allowed paths"}}, extra...),
		Request: func(a map[string]any) (Request, error) {
			path, _ := a["path"].(string)
			if path == "" {
				return Request{}, fmt.Errorf("%s needs path", name)
			}
			in := map[string]any{"path": path}
			for _, e := range extra {
				if v, ok := a[e.Name].(string); ok && (v != "" || e.Required) {
					in[e.Name] = v
				}
			}
			return Request{Agent: "file", Action: action, Input: in}, nil
		},
	}
}

func fileWrite() *Type {
	return fileType("write", "A file holds a content, with a mode and owner, on the targets; written atomically, a diff under no-op.",
		Arg{Name: "content", Type: cty.String, Required: true, Description: "the whole content, e.g. a heredoc with interpolations"},
		Arg{Name: "mode", Type: cty.String, Description: "permission bits, e.g. \"0644\"; unset: kept, 0644 for a new file"},
		Arg{Name: "owner", Type: cty.String, Description: "user name or uid; unset: kept"},
		Arg{Name: "group", Type: cty.String, Description: "group name or gid; unset: kept"},
	)
}

func fileRemove() *Type {
	return fileType("remove", "A file does not exist on the targets; nothing when it already does not.")
}
