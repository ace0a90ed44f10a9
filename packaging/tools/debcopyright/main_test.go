package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"apache", "Apache License\n Version 2.0, January 2004", "Apache-2.0"},
		{"mit", "Permission is hereby granted, free of charge, to any person", "Expat"},
		{"bsd3", "Redistribution and use in source and binary forms ...\n* Neither the name of Google Inc. nor", "BSD-3-clause"},
		{"bsd3 contributors", "Redistribution and use in source and binary forms ... 3. The names of its contributors may not", "BSD-3-clause"},
		{"bsd2", "Redistribution and use in source and binary forms, with or without modification", "BSD-2-clause"},
		{"mpl", "Mozilla Public License Version 2.0\n==================================", "MPL-2.0"},
		{"isc", "Permission to use, copy, modify, and/or distribute this software for any", "ISC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := classify([]byte(tt.text))
			if err != nil || got != tt.want {
				t.Errorf("classify = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := classify([]byte("All rights reserved. Do not copy.")); err == nil {
		t.Error("an unknown license was classified")
	}
}

func TestEscapeModulePath(t *testing.T) {
	got, err := escapeModulePath("github.com/BurntSushi/toml")
	if err != nil || got != "github.com/!burnt!sushi/toml" {
		t.Errorf("escapeModulePath = %q, %v", got, err)
	}
}

func TestModuleParagraph(t *testing.T) {
	dir := t.TempDir()
	license := "MIT License\n\nCopyright (c) 2021 Jane Doe\n\nPermission is hereby granted, free of charge, to any person\n"
	if err := os.WriteFile(filepath.Join(dir, "LICENSE"), []byte(license), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := moduleParagraph("vendor/example.com/m/*", "Go module example.com/m v1.0.0", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "\nFiles: vendor/example.com/m/*\n" +
		"Copyright: 2021 Jane Doe\n" +
		"License: Expat\n MIT License\n .\n Copyright (c) 2021 Jane Doe\n .\n Permission is hereby granted, free of charge, to any person\n" +
		"Comment: Go module example.com/m v1.0.0.\n"
	if got != want {
		t.Errorf("paragraph:\n%s\nwant:\n%s", got, want)
	}
	if _, err := moduleParagraph("x", "y", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no license file") {
		t.Errorf("missing license: %v", err)
	}
}
