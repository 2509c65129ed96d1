/*
 * NAME
 *	aclmerge - merge a site's slapd access rules with mailgrants' rules
 * DESCRIPTION
 *	See aclmerge.h. A rule is split into blank-separated words, a
 *	double-quoted part being one word with its blanks; "by" words
 *	start clauses. Nothing here talks to a server.
 * SEE ALSO
 *	aclmerge.h, cli/setup-dir.c
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aclmerge.h"
#include "error.h"
#include "xalloc.h"

/* A rule split up: what, and each clause (the words after "by"). */
struct acl_parsed {
	char *what;		/* normalised <what> */
	char **clauses;		/* "by ..." as written, one blank apart */
	size_t clause_count;
};

/* aclmerge_strip_index - a value without its "{N}" */
const char *aclmerge_strip_index(const char *value)
{
	const char *p = value;

	if (*p != '{')
		return value;
	p++;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '}' && p > value + 1 ? p + 1 : value;
}

/* acl_next_word - the next word of s from *pos: start and length, 0 at
   the end; a quoted part (backslash escapes inside) stays one word */
static size_t acl_next_word(const char *s, size_t *pos, size_t *start_r)
{
	size_t i = *pos;
	bool quoted = false;

	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
		i++;
	*start_r = i;
	while (s[i] != '\0') {
		if (quoted && s[i] == '\\' && s[i + 1] != '\0') {
			i += 2;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (s[i] == ' ' || s[i] == '\t' ||
				     s[i] == '\n' || s[i] == '\r'))
			break;
		i++;
	}
	*pos = i;
	return i - *start_r;
}

/* acl_norm - a word list in the form rules are compared in: one blank
   apart, ASCII lower case, no double quotes */
static char *acl_norm(const char *s)
{
	size_t len = strlen(s), n = 0, pos = 0, start, wlen;
	char *out = xmalloc(len + 1);

	while ((wlen = acl_next_word(s, &pos, &start)) > 0) {
		if (n > 0)
			out[n++] = ' ';
		for (size_t i = start; i < start + wlen; i++) {
			char c = s[i];

			if (c == '"')
				continue;
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			out[n++] = c;
		}
	}
	out[n] = '\0';
	return out;
}

/* aclmerge_same - the same rule, as the merge compares them */
bool aclmerge_same(const char *a, const char *b)
{
	char *na = acl_norm(aclmerge_strip_index(a));
	char *nb = acl_norm(aclmerge_strip_index(b));
	bool same = strcmp(na, nb) == 0;

	free(na);
	free(nb);
	return same;
}

/* acl_parse - split a rule into its <what> and its clauses */
static int acl_parse(const char *rule, struct acl_parsed *p_r)
{
	const char *s = aclmerge_strip_index(rule);
	size_t pos = 0, start, wlen, what_start = 0, what_end = 0;
	size_t alloc = 0, clause_start = 0;
	bool in_what = false, seen_to = false;

	memset(p_r, 0, sizeof(*p_r));
	while ((wlen = acl_next_word(s, &pos, &start)) > 0) {
		bool by = wlen == 2 && strncasecmp(s + start, "by", 2) == 0;

		if (!seen_to) {
			if (wlen != 2 || strncasecmp(s + start, "to", 2) != 0)
				return -1;
			seen_to = true;
			in_what = true;
			what_start = pos;
			continue;
		}
		if (!by)
			continue;
		if (in_what) {
			what_end = start;
			in_what = false;
		} else {
			p_r->clauses = xgrow(p_r->clauses, &alloc,
					     p_r->clause_count + 1,
					     sizeof(*p_r->clauses), 8);
			p_r->clauses[p_r->clause_count++] =
				xstrndup(s + clause_start, start - clause_start);
		}
		clause_start = start;
	}
	if (!seen_to || in_what) {
		for (size_t i = 0; i < p_r->clause_count; i++)
			free(p_r->clauses[i]);
		free(p_r->clauses);
		return -1;
	}
	p_r->clauses = xgrow(p_r->clauses, &alloc, p_r->clause_count + 1,
			     sizeof(*p_r->clauses), 8);
	p_r->clauses[p_r->clause_count++] = xstrdup(s + clause_start);
	/* Trailing blanks off each clause: they are rebuilt one blank
	   apart. */
	for (size_t i = 0; i < p_r->clause_count; i++) {
		char *c = p_r->clauses[i];
		size_t n = strlen(c);

		while (n > 0 && (c[n - 1] == ' ' || c[n - 1] == '\t' ||
				 c[n - 1] == '\n' || c[n - 1] == '\r'))
			c[--n] = '\0';
	}
	{
		char *w = xstrndup(s + what_start, what_end - what_start);

		p_r->what = acl_norm(w);
		free(w);
	}
	return 0;
}

/* acl_parsed_free - what acl_parse() allocated */
static void acl_parsed_free(struct acl_parsed *p)
{
	for (size_t i = 0; i < p->clause_count; i++)
		free(p->clauses[i]);
	free(p->clauses);
	free(p->what);
	memset(p, 0, sizeof(*p));
}

/* acl_clause_generic - a clause for everybody (or a class of clients
   that mailgrants' rules decide for), not for a named identity */
static bool acl_clause_generic(const char *clause)
{
	static const char *const generic[] = {
		"*", "anonymous", "users", "self", "realanonymous",
		"realusers", "realself", "set", "dnattr",
	};
	size_t pos = 0, start, wlen;
	size_t n;

	/* The word after "by". */
	(void)acl_next_word(clause, &pos, &start);
	wlen = acl_next_word(clause, &pos, &start);
	n = strcspn(clause + start, "=.,");
	if (n > wlen)
		n = wlen;
	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (strlen(generic[i]) == n &&
		    strncasecmp(clause + start, generic[i], n) == 0)
			return true;
	return false;
}

/* acl_clause_broad - a "by dn" clause of a style that names many
   identities at once (regex, subtree, children, one level): carried
   into mailgrants' rules it could undo the companies' separation */
static bool acl_clause_broad(const char *clause)
{
	static const char *const styles[] = {
		"regex", "subtree", "sub", "children", "one", "onelevel",
	};
	size_t pos = 0, start, n;
	const char *who;

	(void)acl_next_word(clause, &pos, &start);
	(void)acl_next_word(clause, &pos, &start);
	who = clause + start;
	if (strncasecmp(who, "dn.", 3) == 0)
		who += 3;
	else if (strncasecmp(who, "realdn.", 7) == 0)
		who += 7;
	else
		return false;
	n = strcspn(who, "=,");
	for (size_t i = 0; i < sizeof(styles) / sizeof(styles[0]); i++)
		if (strlen(styles[i]) == n && strncasecmp(who, styles[i], n) == 0)
			return true;
	return false;
}

/* acl_scoped - a <what> naming entries (dn or filter), not only
   attributes or everything */
static bool acl_scoped(const char *what)
{
	size_t pos = 0, start, wlen;

	while ((wlen = acl_next_word(what, &pos, &start)) > 0) {
		if (strncmp(what + start, "attrs=", 6) != 0 &&
		    !(wlen == 1 && what[start] == '*'))
			return true;
	}
	return false;
}

/* acl_join - "to " what " " clauses, one blank apart */
static char *acl_join(const char *what_text, char *const *clauses,
		      size_t count)
{
	size_t len = strlen(what_text) + 4;
	char *out, *p;

	for (size_t i = 0; i < count; i++)
		len += strlen(clauses[i]) + 1;
	out = p = xmalloc(len + 1);
	memcpy(p, "to ", 3);
	p += 3;
	memcpy(p, what_text, strlen(what_text));
	p += strlen(what_text);
	for (size_t i = 0; i < count; i++) {
		*p++ = ' ';
		memcpy(p, clauses[i], strlen(clauses[i]));
		p += strlen(clauses[i]);
	}
	*p = '\0';
	return out;
}

/* acl_what_text - a rule's <what> as written */
static char *acl_what_text(const char *rule)
{
	const char *s = aclmerge_strip_index(rule);
	size_t pos = 0, start, wlen, from = 0;

	while ((wlen = acl_next_word(s, &pos, &start)) > 0) {
		if (from == 0) {
			from = pos;
			continue;
		}
		if (wlen == 2 && strncasecmp(s + start, "by", 2) == 0)
			break;
	}
	while (s[from] == ' ' || s[from] == '\t')
		from++;
	{
		size_t end = start;

		while (end > from && (s[end - 1] == ' ' || s[end - 1] == '\t' ||
				      s[end - 1] == '\n'))
			end--;
		return xstrndup(s + from, end - from);
	}
}

/* acl_note - one line about a site rule */
static void acl_note(struct aclmerge_result *r, size_t *alloc, char *text)
{
	r->notes = xgrow(r->notes, alloc, r->note_count + 1,
			 sizeof(*r->notes), 8);
	r->notes[r->note_count++] = text;
}

/* The mailgrants rules while they are merged. */
struct acl_target {
	struct acl_parsed p;
	char *what_text;
	char *origin;
	size_t clause_alloc;
	bool changed;
};

/* acl_carry - a site clause into a mailgrants rule, before its last
   clause, unless it has it already; 1 when added */
static int acl_carry(struct acl_target *t, const char *clause)
{
	char *n = acl_norm(clause);
	int added = 1;

	for (size_t i = 0; i < t->p.clause_count && added; i++) {
		char *m = acl_norm(t->p.clauses[i]);

		if (strcmp(m, n) == 0)
			added = 0;
		free(m);
	}
	free(n);
	if (!added)
		return 0;
	if (t->clause_alloc < t->p.clause_count)
		t->clause_alloc = t->p.clause_count;
	t->p.clauses = xgrow(t->p.clauses, &t->clause_alloc,
			     t->p.clause_count + 1, sizeof(*t->p.clauses), 8);
	t->p.clauses[t->p.clause_count] = t->p.clauses[t->p.clause_count - 1];
	t->p.clauses[t->p.clause_count - 1] = xstrdup(clause);
	t->p.clause_count++;
	t->changed = true;
	return 1;
}

/* aclmerge_merge - the site's rules and mailgrants', in one list */
int aclmerge_merge(const char *const *site, size_t site_count,
		   const struct aclmerge_rule *mg, size_t mg_count,
		   struct aclmerge_result *result_r, const char **error_r)
{
	struct aclmerge_result *r = result_r;
	struct acl_target *t = xcalloc(mg_count + 1, sizeof(*t));
	size_t *kept = xcalloc(site_count + 1, sizeof(*kept));
	size_t kept_count = 0, note_alloc = 0, tail = mg_count, out = 0;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	for (size_t k = 0; k < mg_count; k++) {
		if (acl_parse(mg[k].text, &t[k].p) < 0) {
			*error_r = error_printf("mailgrants rule {%zu} is not "
						"\"to <what> by ...\": %s", k,
						mg[k].text);
			goto out;
		}
		t[k].what_text = acl_what_text(mg[k].text);
		t[k].origin = xstrdup(mg[k].origin);
	}
	for (size_t i = 0; i < site_count; i++) {
		struct acl_parsed sp;
		size_t k, target = mg_count;
		bool same = false;

		if (acl_parse(site[i], &sp) < 0) {
			*error_r = error_printf("the site's rule {%zu} is not "
						"\"to <what> by ...\": %s", i,
						site[i]);
			goto out;
		}
		for (k = 0; k < mg_count && !same; k++)
			same = aclmerge_same(site[i], mg[k].text);
		if (same) {
			acl_parsed_free(&sp);
			continue;
		}
		for (k = 0; k < mg_count; k++) {
			if (strcmp(t[k].p.what, sp.what) != 0)
				continue;
			if (target == mg_count || mg[k].carry)
				target = k;
		}
		if (target == mg_count) {
			kept[kept_count++] = i;
			acl_parsed_free(&sp);
			continue;
		}
		{
			size_t carried = 0;

			for (size_t c = 0; c < sp.clause_count; c++) {
				if (acl_clause_broad(sp.clauses[c]))
					acl_note(r, &note_alloc, xasprintf(
						"the site's rule {%zu}: \"%s\" "
						"is dropped, it names many "
						"identities at once (put it "
						"back by hand if it is meant)",
						i, sp.clauses[c]));
				else if (!acl_clause_generic(sp.clauses[c]))
					carried += (size_t)acl_carry(
						&t[target], sp.clauses[c]);
			}
			acl_note(r, &note_alloc, xasprintf(
				"the site's rule {%zu} \"%s\" is replaced by "
				"%s%s", i, aclmerge_strip_index(site[i]),
				t[target].origin,
				carried > 0 ? ", which takes over its clauses"
				" for particular identities" : ""));
			if (carried > 0) {
				char *o = xasprintf("%s; with clauses of the "
						    "site's rule {%zu}",
						    t[target].origin, i);

				free(t[target].origin);
				t[target].origin = o;
			}
		}
		acl_parsed_free(&sp);
	}
	/* The trailing rules for "everything else": after the site's. */
	while (tail > 0 && !acl_scoped(t[tail - 1].p.what))
		tail--;
	r->rules = xcalloc(mg_count + kept_count + 1, sizeof(*r->rules));
	for (size_t k = 0; k <= mg_count; k++) {
		if (k == tail) {
			for (size_t j = 0; j < kept_count; j++) {
				struct aclmerge_rule *o = &r->rules[out++];

				o->text = xstrdup(
					aclmerge_strip_index(site[kept[j]]));
				o->origin = xasprintf(
					"the site's rule {%zu}, kept before "
					"mailgrants' rules for everything "
					"else", kept[j]);
			}
		}
		if (k == mg_count)
			break;
		r->rules[out].text = t[k].changed ?
			acl_join(t[k].what_text, t[k].p.clauses,
				 t[k].p.clause_count) :
			xstrdup(aclmerge_strip_index(mg[k].text));
		r->rules[out].origin = t[k].origin;
		r->rules[out].carry = mg[k].carry;
		t[k].origin = NULL;
		out++;
	}
	r->count = out;
	ret = 0;
out:
	for (size_t k = 0; k < mg_count; k++) {
		acl_parsed_free(&t[k].p);
		free(t[k].what_text);
		free(t[k].origin);
	}
	free(t);
	free(kept);
	if (ret < 0)
		aclmerge_result_free(r);
	return ret;
}

/* aclmerge_result_free - what aclmerge_merge() returned */
void aclmerge_result_free(struct aclmerge_result *result)
{
	for (size_t i = 0; i < result->count; i++) {
		free(result->rules[i].text);
		free(result->rules[i].origin);
	}
	free(result->rules);
	for (size_t i = 0; i < result->note_count; i++)
		free(result->notes[i]);
	free(result->notes);
	memset(result, 0, sizeof(*result));
}

/* aclmerge_fold - the rule with a line break before each "by" */
char *aclmerge_fold(const char *rule)
{
	size_t pos = 0, start, wlen, n = 0, last = 0;
	size_t len = strlen(rule);
	char *out = xmalloc(len * 3 + 1);

	while ((wlen = acl_next_word(rule, &pos, &start)) > 0) {
		if (wlen == 2 && strncasecmp(rule + start, "by", 2) == 0 &&
		    start > 0) {
			size_t end = start;

			while (end > last && (rule[end - 1] == ' ' ||
					      rule[end - 1] == '\t'))
				end--;
			memcpy(out + n, rule + last, end - last);
			n += end - last;
			memcpy(out + n, "\n  ", 3);
			n += 3;
			last = start;
		}
	}
	memcpy(out + n, rule + last, len - last);
	n += len - last;
	out[n] = '\0';
	return out;
}
