package dag

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkWalk walks n no-op vertices, each depending on up to 3 random
// earlier ones (the shape of catalog/bench_test.go's generated playbooks),
// with the engine's default parallelism of 10.
func BenchmarkWalk(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, 7))
			g := New[int]()
			for i := range n {
				g.Add(i)
				for range r.IntN(4) {
					if i > 0 {
						_ = g.DependOn(i, r.IntN(i))
					}
				}
			}
			w := Walker[int]{Parallelism: 10, Visit: func(context.Context, int) Outcome { return Succeeded }}
			b.ResetTimer()
			for range b.N {
				if err := w.Walk(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
