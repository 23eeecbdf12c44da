package metrics_test

import (
	"strings"
	"testing"

	"github.com/orch-fleet/orch/internal/metrics"
)

func TestCheckListen(t *testing.T) {
	tests := map[string]struct {
		addr    string
		allow   bool
		wantErr string
	}{
		"loopback v4":           {addr: "127.0.0.1:9464"},
		"loopback v6":           {addr: "[::1]:9464"},
		"localhost":             {addr: "localhost:9464"},
		"all interfaces":        {addr: ":9464", wantErr: "not a loopback"},
		"a LAN address":         {addr: "10.0.0.5:9464", wantErr: "metrics_allow_remote"},
		"a host name":           {addr: "node1.example:9464", wantErr: "not a loopback"},
		"allowed LAN address":   {addr: "10.0.0.5:9464", allow: true},
		"allowed everywhere":    {addr: "0.0.0.0:9464", allow: true},
		"no port":               {addr: "127.0.0.1", wantErr: "host:port"},
		"empty port":            {addr: "127.0.0.1:", wantErr: "no port"},
		"loopback range, not 1": {addr: "127.0.0.2:9464"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := metrics.CheckListen(tt.addr, tt.allow)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
