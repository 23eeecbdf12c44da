package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-fleet/orch/node/sysfacts"
)

// firstFactsWait bounds how long Run waits for the first collection of
// system facts before it registers: a slow facts.d script delays the
// system facts, never the agent (they are registered when they come).
const firstFactsWait = 3 * time.Second

// newSystemFacts returns the system facts source of cfg (its
// system_facts block, checked by ParseConfig).
func newSystemFacts(cfg *Config, log *slog.Logger) *sysfacts.Source {
	s, err := cfg.SystemFacts.Settings(cfg.path)
	if err != nil {
		log.Warn("system_facts", "err", err)
	}
	return sysfacts.NewSource(s, log.With("facts", "system"))
}

// withSystemFacts layers the config's facts (inline facts and facts_file)
// over the system facts (built-in, then facts.d).
func (n *Node) withSystemFacts(config map[string]any) map[string]any {
	return sysfacts.Merge(n.sys.Facts(), config)
}

// startSystemFacts starts collecting system facts, waits (briefly) for
// the first collection and merges it into the node's facts. The channel
// receives when they change; stop ends the collection and waits for it.
func (n *Node) startSystemFacts(ctx context.Context) (changed <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.sys.Run(ctx) })
	n.sys.WaitFirst(ctx, firstFactsWait)
	select { // the first collection is merged here, not by Run's loop
	case <-n.sys.Changed():
	default:
	}
	if err := n.ReloadFacts(ctx); err != nil {
		n.log.Error("reloading facts", "err", err)
	}
	return n.sys.Changed(), func() { cancel(); wg.Wait() }
}
