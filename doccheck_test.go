package swarmcast_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Every exported name of every package a program can import (not
// internal/, not a command) has a doc comment, and the comment starts with
// the name (an article before it is fine), so `go doc` reads as a guide.
// Every package has a package doc. Names declared in a group (const ( ... )) may share the group's comment.
// Methods count when their receiver's type is exported.
func TestExportedNamesHaveDocComments(t *testing.T) {
	var missing []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "internal" || name == "third_party") {
			return filepath.SkipDir
		}
		missing = append(missing, undocumented(t, path)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
	if len(missing) > 0 {
		t.Logf("%d exported names without a doc comment that starts with the name", len(missing))
	}
}

// undocumented lists the exported names of the package in dir that lack a
// doc comment starting with the name, as "file:line: Name".
func undocumented(t *testing.T, dir string) []string {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	pkgDoc, anyGo := false, ""
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		path := filepath.Join(dir, n)
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "main" {
			return nil // a command: its names are no one's API
		}
		anyGo = path
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
			pkgDoc = true
		}
		report := func(pos token.Pos, name string, doc *ast.CommentGroup) {
			if !docStartsWith(doc, name) {
				p := fset.Position(pos)
				out = append(out, p.Filename+":"+itoa(p.Line)+": "+name)
			}
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := receiverType(d.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
					name = recv + "." + name
				}
				report(d.Pos(), name, d.Doc)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						doc := s.Doc
						if doc == nil && len(d.Specs) == 1 {
							doc = d.Doc
						}
						if doc == nil && d.Lparen.IsValid() && d.Doc != nil {
							continue // one comment for the group
						}
						report(s.Pos(), s.Name.Name, doc)
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if !id.IsExported() {
								continue
							}
							if d.Lparen.IsValid() {
								// In a group, the group's comment or the
								// spec's own (either side) will do.
								if d.Doc == nil && s.Doc == nil && s.Comment == nil {
									report(id.Pos(), id.Name, nil)
								}
								continue
							}
							report(id.Pos(), id.Name, d.Doc)
						}
					}
				}
			}
		}
	}
	if anyGo != "" && !pkgDoc {
		out = append(out, dir+": package doc (\"Package name ...\")")
	}
	return out
}

// docStartsWith reports whether doc's first word is name, possibly after
// an article; for a method, name is "Type.Method" and the method name is
// what must come first.
func docStartsWith(doc *ast.CommentGroup, name string) bool {
	if doc == nil {
		return false
	}
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	text := strings.TrimSpace(doc.Text())
	for _, article := range []string{"A ", "An ", "The "} {
		text = strings.TrimPrefix(text, article)
	}
	rest, ok := strings.CutPrefix(text, name)
	if !ok {
		return false
	}
	// The name is a whole word: "Close closes", "Stats'", "New(".
	return rest == "" || !isIdentRune(rune(rest[0]))
}

func isIdentRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// receiverType is the name of a method's receiver type: T for T, *T, T[K]
// and *T[K].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}
