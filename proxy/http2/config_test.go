package http2

import (
	"strings"
	"testing"
)

func TestConfigNormalize(t *testing.T) {
	var c Config
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.MaxConcurrentStreams != 100 || c.MaxHeaderBlockBytes != 32<<10 || c.OutputBufferSize != 64<<10 {
		t.Fatalf("defaults %+v", c)
	}
	for field, mod := range map[string]func(*Config){
		"InitialWindowSize":   func(c *Config) { c.InitialWindowSize = 1 << 31 },
		"ConnWindowSize":      func(c *Config) { c.ConnWindowSize = 1000 },
		"MaxFrameSize":        func(c *Config) { c.MaxFrameSize = 1000 },
		"HeaderTableSize":     func(c *Config) { c.HeaderTableSize = 1 << 16 },
		"MaxHeaderListSize":   func(c *Config) { c.MaxHeaderListSize = 1 << 20 },
		"MaxHeaderBlockBytes": func(c *Config) { c.MaxHeaderBlockBytes = 1 << 20 },
		"OutputBufferSize":    func(c *Config) { c.OutputBufferSize = 1000 },
		"MaxPendingOutput":    func(c *Config) { c.MaxPendingOutput = 20000; c.OutputBufferSize = 30000 },
	} {
		var c Config
		mod(&c)
		if err := c.Normalize(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}
