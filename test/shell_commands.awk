# shell_commands.awk - the commands a shell script (or a Makefile's recipes,
# with -v make=1) calls, one "command<TAB>file:line" a line.
#
# A small reader of the shell's grammar, enough for this repository's
# scripts: quotes ('...' and "..." across lines), command substitution
# ($(...), `...`, <(...), >(...)), arithmetic ($((...))), here-documents
# (skipped, they are data: SQL, Python, awk), comments, separators
# (; & | && || newline), assignments and prefixes before a command (env,
# exec, command, time, nice, nohup, xargs, timeout, sudo), and the words
# that start no command (for/case/select lists, [ ... ], [[ ... ]], array
# literals, function definitions).  Only literal words at command position
# are reported; "$cmd" and ${run[@]} are not.  test/install_deps_check.sh
# looks each one up.

function push(c) { stk[++depth] = c }
function pop() { if (depth > 0) depth--; }
function top() { return depth > 0 ? stk[depth] : "T" }

# a word ended at the top level or inside $(...): is it a command?
function word_end(   w) {
	if (word == "")
		return
	if (top() == "R") {		# x=( ... ): an array's elements
		word = ""
		return
	}
	w = word
	word = ""
	if (skipword) {			# a redirection's target
		skipword = 0
		return
	}
	if (nocmd) {			# for/case/select lists, [ ... ]
		if ((nocmd == "]" && (w == "]" || w == "]]")) || (nocmd == "in" && w == "in"))
			nocmd = ""
		if (w == "do" || w == "then")
			{ nocmd = ""; cmdpos = 1 }
		return
	}
	if (!cmdpos)
		return
	if (w ~ /^[A-Za-z_][A-Za-z0-9_]*\+?=/)
		return				# VAR=value before a command
	if (w ~ /^(then|do|else|elif|if|while|until|!|\{|\}|time|exec|command|env|nice|nohup|sudo|xargs|timeout|builtin)$/ ||
		w == "$SUDO")
		return				# a command follows ($SUDO: sudo or nothing)
	if (prefix && (w ~ /^-/ || w ~ /^[0-9.]+[smhd]?$/))
		return				# a prefix's options: xargs -n1, timeout 5
	if (w ~ /^(for|select|case)$/) { nocmd = (w == "case" ? "in" : "do"); return }
	if (w == "function") { cmdpos = 0; return }
	if (w == "[" || w == "[[") { nocmd = "]"; return }
	cmdpos = 0
	if (w ~ /^(fi|done|esac|in|;;)$/)
		{ cmdpos = 1; return }
	if (w ~ /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/ || w ~ /^\/(usr\/)?s?bin\/[A-Za-z0-9_.+-]+$/)
		printf "%s\t%s:%d\n", w, FILENAME, FNR
}

FNR == 1 { depth = 0; heredoc = ""; nhd = 0; cmdpos = 1; word = ""; nocmd = ""; cont = 0 }

{
	line = $0
	if (heredoc != "") {		# inside a here-document: data
		t = line
		if (hdtabs)
			sub(/^\t+/, "", t)
		if (t == heredoc) {
			heredoc = ""
			if (nhd > 0) { heredoc = hd[1]; hdtabs = hdt[1]; for (i = 1; i < nhd; i++) { hd[i] = hd[i + 1]; hdt[i] = hdt[i + 1] } nhd-- }
		}
		next
	}
	if (make) {					# a Makefile: only its recipes are shell
		if (line !~ /^\t/) { depth = 0; next }
		sub(/^\t[@+-]*/, "", line)
		gsub(/\$\$/, "$", line)
		gsub(/\$\([A-Za-z_]+\)/, "$V", line)	# make variables: not literal
	}
	if (top() !~ /^[SDAR]$/ && !cont)
		cmdpos = 1
	cont = 0
	prefix = 0
	n = length(line)
	for (i = 1; i <= n; i++) {
		c = substr(line, i, 1)
		ctx = top()
		if (ctx == "S") {			# '...': nothing is special but '
			if (c == "'")
				pop()
			else
				word = word c
			continue
		}
		if (ctx == "A") {			# $(( ... ))
			if (c == "(")
				push("A")
			else if (c == ")") {
				pop()
				if (top() != "A" && substr(line, i + 1, 1) == ")")
					i++
			}
			continue
		}
		if (c == "\\") {
			if (i == n)
				cont = 1		# the command goes on on the next line
			else
				word = word substr(line, ++i, 1)
			continue
		}
		if (ctx == "D") {			# "...": $( and ` start commands
			if (c == "\"")
				pop()
			else if (c == "$" && substr(line, i + 1, 2) == "((") {
				push("A"); i += 2
			} else if (c == "$" && substr(line, i + 1, 1) == "(") {
				push("C"); i++; cmdpos = 1; word = ""; skipword = 0
			} else if (c == "`") {
				push("B"); cmdpos = 1; word = ""; skipword = 0
			} else
				word = word c
			continue
		}
		# top level, $( ... ), ( ... ) or ` ... `
		if (c == " " || c == "\t") {
			word_end()
			continue
		}
		if (c == "#" && word == "")
			break				# a comment
		if (c == "'") { push("S"); word = word "\""; continue }	# a quoted word is not literal
		if (c == "\"") { push("D"); word = word "\""; continue }
		if (c == "$" && substr(line, i + 1, 2) == "((") { push("A"); i += 2; word = word "$"; continue }
		if (c == "$" && substr(line, i + 1, 1) == "(") {
			word_end(); push("C"); i++; cmdpos = 1; skipword = 0; continue
		}
		if (c == "$" && substr(line, i + 1, 1) == "{") {	# ${...}: part of a word
			j = index(substr(line, i), "}")
			word = word "$"
			i = j ? i + j - 1 : n
			continue
		}
		if (c == "`") {
			word_end()
			if (ctx == "B") pop(); else { push("B"); cmdpos = 1; skipword = 0 }
			continue
		}
		if ((c == "<" || c == ">") && substr(line, i + 1, 1) == "(") {	# <(...) >(...)
			word_end(); push("C"); i++; cmdpos = 1; skipword = 0; continue
		}
		if (c == "<" && substr(line, i + 1, 2) == "<<") {	# <<< a here-string
			word_end(); i += 2; skipword = 1; continue
		}
		if (c == "<" && substr(line, i + 1, 1) == "<") {	# <<WORD, <<-WORD, <<'WORD'
			word_end()
			rest = substr(line, i + 2)
			tabs = sub(/^-/, "", rest)
			sub(/^[ \t]*/, "", rest)
			if (match(rest, /^['"]?[A-Za-z_][A-Za-z0-9_]*['"]?/)) {
				t = substr(rest, 1, RLENGTH)
				gsub(/['"]/, "", t)
				if (heredoc_next == "") { heredoc_next = t; hdtabs_next = tabs }
				else { hd[++nhd] = t; hdt[nhd] = tabs }
				i += 1 + (length(substr(line, i + 2)) - length(rest)) + RLENGTH
			} else
				i++
			continue
		}
		if (c == "<" || c == ">") {
			word_end()
			if (substr(line, i + 1, 1) == "&") { i++; while (substr(line, i + 1, 1) ~ /[0-9-]/) i++; continue }
			if (substr(line, i + 1, 1) == ">" || substr(line, i + 1, 1) == "|") i++
			skipword = 1
			continue
		}
		if (c == ";" || c == "&" || c == "|") {
			word_end()
			if (c == ";" && substr(line, i + 1, 1) == ";") i++
			cmdpos = 1; nocmd = ""; prefix = 0
			continue
		}
		if (c == "(") {
			if (substr(line, i + 1, 1) == ")") {	# name() { ... }: a function
				if (word ~ /^[A-Za-z_][A-Za-z0-9_-]*$/)
					printf "%s\t%s:%d\tfunction\n", word, FILENAME, FNR
				word = ""; i++; cmdpos = 1; continue
			}
			if (word ~ /=$/) { push("R"); word = ""; continue }	# x=( ... ): an array
			word_end(); push("P"); cmdpos = 1
			continue
		}
		if (c == ")") {
			word_end()
			if (ctx == "R" || ctx == "C" || ctx == "P") pop()
			cmdpos = (ctx == "C" ? 0 : 1)	# after $(...) the word goes on; after a case pattern a command starts
			continue
		}
		if (ctx == "R")
			continue
		word = word c
		if (cmdpos && word ~ /^(xargs|timeout|env|nice|nohup|sudo|exec|command)$/ && substr(line, i + 1, 1) ~ /[ \t]/)
			prefix = 1
	}
	if (top() == "S" || top() == "D")	# a quote goes on on the next line
		next
	word_end()				# a newline (or backslash-newline) ends a word
	if (top() == "R")
		next
	if (line ~ /(\||&&)[ \t]*$/) {	# the pipeline or list goes on
		cont = 1
		cmdpos = 1
	}
	if (heredoc_next != "") {
		heredoc = heredoc_next; hdtabs = hdtabs_next; heredoc_next = ""
	}
}
