package policy

import "strings"

// glob reports whether s matches pattern, where '*' matches any run of
// bytes and '?' any single byte. With fold, ASCII letters match regardless
// of case; pattern must then already be lower case.
func glob(pattern, s string, fold bool) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			switch {
			case c == '*':
				starP, starS = px, sx
				px++
				continue
			case c == '?' || c == s[sx] || (fold && c == lower(s[sx])):
				px++
				sx++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		px = starP + 1
		starS++
		sx = starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func hasWild(s string) bool { return strings.ContainsAny(s, "*?") }

// arnLike matches an ARN against an ARN pattern the way ArnLike does: both
// are split into six colon-separated parts (the last keeps any further
// colons) and each part is matched with glob.
func arnLike(pattern, arn string) bool {
	for i := 0; i < 5; i++ {
		pi := strings.IndexByte(pattern, ':')
		ai := strings.IndexByte(arn, ':')
		if pi < 0 || ai < 0 {
			return false
		}
		if !glob(pattern[:pi], arn[:ai], false) {
			return false
		}
		pattern, arn = pattern[pi+1:], arn[ai+1:]
	}
	return glob(pattern, arn, false)
}

// hasVars reports whether s contains a policy variable reference.
func hasVars(s string) bool { return strings.Contains(s, "${") }

// expand substitutes policy variables in s. It fails if a variable is
// missing and has no default, is multi-valued, or has a value containing a
// wildcard.
func expand(s string, req *Request) (string, bool) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			// ${key, 'default'} gives a value for a missing key.
			key, def, hasDef := strings.Cut(name, ",")
			if hasDef {
				key = strings.TrimSpace(key)
				def = strings.TrimSpace(def)
				if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
					return "", false
				}
				def = def[1 : len(def)-1]
			}
			v := req.lookup(key)
			val := def
			switch {
			case v.len() == 1:
				val = v.at(0)
			case v.len() > 1 || !hasDef:
				return "", false
			}
			if hasWild(val) {
				return "", false
			}
			b.WriteString(val)
		}
		s = s[i+j+1:]
	}
}
