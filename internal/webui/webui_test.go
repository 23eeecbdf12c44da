package webui

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTokenRequired(t *testing.T) {
	h := New(Options{Token: "s3cr3t"}).auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	tests := map[string]struct {
		url    string
		cookie string
		want   int
	}{
		"no token":         {"/", "", http.StatusUnauthorized},
		"wrong token":      {"/?token=nope", "", http.StatusUnauthorized},
		"token in the URL": {"/?token=s3cr3t", "", http.StatusTeapot},
		"token cookie":     {"/runs", "s3cr3t", http.StatusTeapot},
		"wrong cookie":     {"/runs", "nope", http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.url, nil)
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d", rec.Code, tc.want)
			}
		})
	}
}
