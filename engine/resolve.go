package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/fleet"
)

// resolve discovers the node sets r needs, once per run each, and checks
// that the results it uses are there.
func (w *walker) resolve(ctx context.Context, r *catalog.Resource) (catalog.Resolved, error) {
	for _, addr := range r.NodeSets {
		if dep, _, ok := catalog.SplitResultKey(addr); ok {
			w.mu.Lock()
			_, have := w.resolved[addr]
			w.mu.Unlock()
			if !have {
				return nil, fmt.Errorf("the results of %s are not available (it did not run)", dep)
			}
			continue
		}
		if err := w.resolveSet(ctx, addr); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.resolved), nil
}

// resolveSet discovers the node set addr unless it was already (each set
// is discovered once per run, also when several resources need it at once).
func (w *walker) resolveSet(ctx context.Context, addr string) error {
	lk, _ := w.nsLocks.LoadOrStore(addr, &sync.Mutex{})
	mu := lk.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	w.mu.Lock()
	_, have := w.resolved[addr]
	err := w.nsErr[addr]
	w.mu.Unlock()
	if have || err != nil {
		return err
	}
	ids, err := w.discover(ctx, addr)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.nsErr[addr] = err
		return err
	}
	w.resolved[addr] = ids
	w.report.NodeSets[addr] = ids
	return nil
}

func (w *walker) discover(ctx context.Context, addr string) ([]string, error) {
	ns, ok := w.cat.NodeSets[addr]
	if !ok {
		return nil, fmt.Errorf("node set %s is not in the catalog", addr)
	}
	ids, missing, err := w.find(ctx, ns.Filter)
	if err != nil {
		return nil, fmt.Errorf("discovering %s (%s): %w", addr, ns.Filter.String(), err)
	}
	w.emit(Event{Type: EventNodeSet, NodeSet: addr, Nodes: ids, Missing: missing, Message: ns.Filter.String()})
	if len(ids) == 0 && !ns.AllowEmpty {
		// No silent no-op: a typo in a fact must not pass for "nothing to do".
		return nil, fmt.Errorf("node set %s (%s) found no node%s; if that can be right, say min = 0", addr, ns.Filter.String(), w.suggest(ctx, ns.Filter))
	}
	if len(ids) < ns.Min {
		return nil, fmt.Errorf("node set %s (%s) found %d node(s), fewer than min = %d", addr, ns.Filter.String(), len(ids), ns.Min)
	}
	if ns.Max > 0 && len(ids) > ns.Max {
		return nil, fmt.Errorf("node set %s (%s) found %d node(s), more than max = %d", addr, ns.Filter.String(), len(ids), ns.Max)
	}
	return ids, nil
}

// find discovers the nodes filter f selects, sorted, with the missing ones
// (MissingFinder) among them; missing describes those.
func (w *walker) find(ctx context.Context, f fleet.Filter) (ids, missing []string, err error) {
	mf, ok := w.fleet.(MissingFinder)
	if !ok {
		ids, err = w.fleet.Discover(ctx, f)
		if ids == nil {
			ids = []string{}
		}
		return ids, nil, err
	}
	ids, gone, err := mf.DiscoverWithMissing(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	ids = append([]string{}, ids...)
	for _, m := range gone {
		if !live[m.Identity] {
			ids = append(ids, m.Identity)
			missing = append(missing, fmt.Sprintf("%s (missing since %s)", m.Identity, m.LastSeen.UTC().Format(time.RFC3339)))
		}
	}
	slices.Sort(ids)
	slices.Sort(missing)
	return ids, missing, nil
}

// Suggester is what a Fleet can optionally do: say what the fleet has that
// is closest to a filter that matched nothing ("did you mean
// cluster=bravo?"); "" when it has nothing to say.
type Suggester interface {
	Suggest(ctx context.Context, f fleet.Filter) string
}

func (w *walker) suggest(ctx context.Context, f fleet.Filter) string {
	s, ok := w.fleet.(Suggester)
	if !ok {
		return ""
	}
	if hint := s.Suggest(ctx, f); hint != "" {
		return ": " + hint
	}
	return ""
}
