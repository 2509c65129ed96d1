/*
 * NAME
 *	header - the addresses of a From: or Sender: header field
 * DESCRIPTION
 *	A scanner turns the field value into tokens (atoms, quoted
 *	strings, domain literals, specials), skipping white space and
 *	comments; the parser reads the address-list grammar from them.
 *
 *	Each list element is scanned up to its end first (",", ";" or the
 *	end of the value) to learn what it is: a stop at "<" makes the
 *	words before it a display name, a stop at ":" a group name, and
 *	otherwise the element is read again from its start as a bare
 *	addr-spec. So every byte is scanned at most twice, and nothing
 *	recurses deeper than one group.
 *
 *	The parser errs on the side of an error: whatever a mail client
 *	might show as an address either comes back in the list or makes
 *	the whole value unreadable.
 * SEE ALSO
 *	header.h, RFC 5322 3.4 and 4.4, RFC 2047, RFC 6532, RFC 6854
 */

#include "header.h"

#include <stdbool.h>
#include <string.h>

enum header_token_type {
	HEADER_TOKEN_END,
	HEADER_TOKEN_ATOM,	/* text: the atom, encoded words included */
	HEADER_TOKEN_QUOTED,	/* text: between the quotes, escapes kept */
	HEADER_TOKEN_LITERAL,	/* text: "[...]" */
	HEADER_TOKEN_SPECIAL,	/* one of < > : ; @ , */
};

struct header_token {
	enum header_token_type type;
	char special;
	const char *text;
	size_t len;
};

struct header_scan {
	const char *p, *end;
	const char *error;
};

struct header_parser {
	struct header_addresses *list;
	size_t used;		/* bytes of list->buf in use */
};

/* header_is_atext - may this byte be part of an atom? (UTF-8 may) */
static bool header_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	/* The dot is here too: "peter.mueller" is one token, and the
	   obsolete "Peter J. Mueller" a phrase of three. */
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

/* header_is_wsp - white space, folding included */
static bool header_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* header_is_ctl - a control character that no field value may hold */
static bool header_is_ctl(unsigned char c)
{
	return (c < 0x20 && !header_is_wsp(c)) || c == 0x7f;
}

/* header_encoded_word_len - length of an RFC 2047 encoded word at p, or 0 */
static size_t header_encoded_word_len(const char *p, const char *end)
{
	const char *q = p + 2, *start;

	if (end - p < 2 || p[0] != '=' || p[1] != '?')
		return 0;
	/* charset (with an optional RFC 2231 "*language"): a token */
	for (start = q; q < end && *q != '?'; q++) {
		unsigned char c = (unsigned char)*q;

		if (c <= 0x20 || c >= 0x7f ||
		    strchr("()<>@,;:\"/[]?.=", c) != NULL)
			return 0;
	}
	if (q == start || end - q < 3)
		return 0;
	q++;
	if (strchr("BbQq", *q) == NULL || q[1] != '?')
		return 0;
	/* The encoded text may hold "," ";" ":" (clients write
	   "M=C3=BCller,_Peter" unquoted), but no white space, no "?", and
	   none of the characters that make an address or end a display
	   name: a client that does not take "=?...?=" as one word must not
	   find an address in it that this parser did not see. */
	for (q += 2; q < end && *q != '?'; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f ||
		    strchr("<>@\"()[]\\", *q) != NULL)
			return 0;
	if (end - q < 2 || q[1] != '=')
		return 0;
	return (size_t)(q + 2 - p);
}

/* header_scan_fail - record why the value cannot be read */
static int header_scan_fail(struct header_scan *s, const char *error)
{
	s->error = error;
	return -1;
}

/* header_skip_comment - skip a comment (nested) at s->p */
static int header_skip_comment(struct header_scan *s)
{
	unsigned int depth = 0;

	do {
		if (s->p >= s->end)
			return header_scan_fail(s, "unterminated comment");
		if (*s->p == '\\') {
			if (++s->p >= s->end)
				return header_scan_fail(s,
					"unterminated comment");
			if (*s->p == '\r' || *s->p == '\n')
				return header_scan_fail(s, "line break after "
							"backslash");
		} else if (*s->p == '(') {
			depth++;
		} else if (*s->p == ')') {
			depth--;
		}
		if (header_is_ctl((unsigned char)*s->p))
			return header_scan_fail(s, "control character");
		s->p++;
	} while (depth > 0);
	return 0;
}

/* header_skip_cfws - skip white space and comments */
static int header_skip_cfws(struct header_scan *s)
{
	while (s->p < s->end) {
		if (header_is_wsp((unsigned char)*s->p))
			s->p++;
		else if (*s->p == '(') {
			if (header_skip_comment(s) < 0)
				return -1;
		} else
			break;
	}
	return 0;
}

/* header_scan_delimited - a quoted string or domain literal at s->p */
static int header_scan_delimited(struct header_scan *s, char close,
				 const char *unterminated)
{
	s->p++;
	while (s->p < s->end && *s->p != close) {
		if (*s->p == '\\') {
			if (++s->p >= s->end)
				break;
			/* A quoted pair is VCHAR or WSP, never folding. */
			if (*s->p == '\r' || *s->p == '\n')
				return header_scan_fail(s, "line break after "
							"backslash");
		}
		if (header_is_ctl((unsigned char)*s->p))
			return header_scan_fail(s, "control character");
		if (close == ']' && *s->p == '[')
			return header_scan_fail(s, "\"[\" in a domain literal");
		s->p++;
	}
	if (s->p >= s->end)
		return header_scan_fail(s, unterminated);
	s->p++;
	return 0;
}

/* header_next - the next token; -1 when the value cannot be read */
static int header_next(struct header_scan *s, struct header_token *t)
{
	const char *start;
	size_t n;

	if (header_skip_cfws(s) < 0)
		return -1;
	memset(t, 0, sizeof(*t));
	if (s->p >= s->end) {
		t->type = HEADER_TOKEN_END;
		return 0;
	}
	start = s->p;
	switch (*s->p) {
	case '"':
		if (header_scan_delimited(s, '"',
					  "unterminated quoted string") < 0)
			return -1;
		t->type = HEADER_TOKEN_QUOTED;
		t->text = start + 1;
		t->len = (size_t)(s->p - start) - 2;
		return 0;
	case '[':
		if (header_scan_delimited(s, ']',
					  "unterminated domain literal") < 0)
			return -1;
		t->type = HEADER_TOKEN_LITERAL;
		t->text = start;
		t->len = (size_t)(s->p - start);
		return 0;
	case '<':
	case '>':
	case ':':
	case ';':
	case '@':
	case ',':
		t->type = HEADER_TOKEN_SPECIAL;
		t->special = *s->p++;
		return 0;
	case ')':
		return header_scan_fail(s, "\")\" without \"(\"");
	case ']':
		return header_scan_fail(s, "\"]\" without \"[\"");
	case '\\':
		return header_scan_fail(s, "backslash outside quotes");
	}
	for (;;) {
		if ((n = header_encoded_word_len(s->p, s->end)) > 0)
			s->p += n;
		else if (s->p < s->end && header_is_atext((unsigned char)*s->p))
			s->p++;
		else
			break;
	}
	if (s->p == start)
		return header_scan_fail(s, "control character");
	t->type = HEADER_TOKEN_ATOM;
	t->text = start;
	t->len = (size_t)(s->p - start);
	return 0;
}

/* header_peek - the next token, without taking it */
static int header_peek(struct header_scan *s, struct header_token *t)
{
	struct header_scan copy = *s;

	if (header_next(&copy, t) < 0) {
		s->error = copy.error;
		return -1;
	}
	return 0;
}

/* header_is_special - is this token the special character c? */
static bool header_is_special(const struct header_token *t, char c)
{
	return t->type == HEADER_TOKEN_SPECIAL && t->special == c;
}

/* header_append - add text to a bounded buffer; false when it is full */
static bool header_append(char *buf, size_t size, size_t *len,
			  const char *text, size_t n)
{
	if (n >= size - *len)
		return false;
	memcpy(buf + *len, text, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

/* header_append_unfolded - add text without line breaks, maybe unescaped */
static bool header_append_unfolded(char *buf, size_t size, size_t *len,
				   const char *text, size_t n, bool unescape)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* Line breaks inside quotes and literals are folding. */
		if (text[i] == '\r' || text[i] == '\n')
			continue;
		if (unescape && text[i] == '\\' && i + 1 < n)
			i++;
		if (!header_append(buf, size, len, text + i, 1))
			return false;
	}
	return true;
}

/* header_is_dot_atom - may this local part be written without quotes? */
static bool header_is_dot_atom(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (!header_is_atext((unsigned char)s[i]))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* header_add - store one address in the list */
static int header_add(struct header_scan *s, struct header_parser *hp,
		      const char *local, size_t llen, bool quote,
		      bool at, const char *domain, size_t dlen)
{
	struct header_addresses *list = hp->list;
	char *out = list->buf + hp->used;
	size_t size = sizeof(list->buf) - hp->used, len = 0, i;
	bool ok = true;

	if (list->count >= HEADER_ADDRESSES_MAX)
		return header_scan_fail(s, "too many addresses");
	out[0] = '\0';
	if (quote) {
		ok = header_append(out, size, &len, "\"", 1);
		for (i = 0; ok && i < llen; i++) {
			if (local[i] == '"' || local[i] == '\\')
				ok = header_append(out, size, &len, "\\", 1);
			if (ok)
				ok = header_append(out, size, &len,
						   local + i, 1);
		}
		if (ok)
			ok = header_append(out, size, &len, "\"", 1);
	} else {
		ok = header_append(out, size, &len, local, llen);
	}
	if (ok && at)
		ok = header_append(out, size, &len, "@", 1) &&
		    header_append(out, size, &len, domain, dlen);
	if (!ok || len >= HEADER_ADDRESS_MAX)
		return header_scan_fail(s, "address too long");
	list->addr[list->count++] = out;
	hp->used += len + 1;
	return 0;
}

/* header_addr_spec - read local@domain up to one of "stops" */
static int header_addr_spec(struct header_scan *s, struct header_parser *hp,
			    const char *stops)
{
	char local[HEADER_ADDRESS_MAX], domain[HEADER_ADDRESS_MAX];
	size_t llen = 0, dlen = 0;
	bool at = false, quoted = false, joinable = true, words = false;
	struct header_token t;

	local[0] = domain[0] = '\0';
	for (;;) {
		struct header_scan before = *s;
		bool ok;

		if (header_next(s, &t) < 0)
			return -1;
		if (t.type == HEADER_TOKEN_END ||
		    (t.type == HEADER_TOKEN_SPECIAL &&
		     strchr(stops, t.special) != NULL)) {
			*s = before;
			break;
		}
		if (t.type == HEADER_TOKEN_SPECIAL) {
			if (t.special != '@')
				return header_scan_fail(s, "unexpected "
					"special character in an address");
			if (at)
				return header_scan_fail(s,
					"two \"@\" in one address");
			at = true;
			joinable = true;
			continue;
		}
		/* Two words without "." or "@" between them are a phrase:
		   a display name without "<address>". */
		if (!joinable && !(t.type == HEADER_TOKEN_ATOM &&
				   t.text[0] == '.'))
			return header_scan_fail(s, "display name without "
						"<address>");
		words = true;
		switch (t.type) {
		case HEADER_TOKEN_ATOM:
			ok = at ? header_append(domain, sizeof(domain), &dlen,
						t.text, t.len) :
			    header_append(local, sizeof(local), &llen,
					  t.text, t.len);
			joinable = t.text[t.len - 1] == '.';
			break;
		case HEADER_TOKEN_QUOTED:
			if (at)
				return header_scan_fail(s, "quoted string in "
							"a domain");
			ok = header_append_unfolded(local, sizeof(local),
						    &llen, t.text, t.len,
						    true);
			quoted = true;
			joinable = false;
			break;
		default:	/* HEADER_TOKEN_LITERAL */
			if (!at || dlen > 0)
				return header_scan_fail(s, "domain literal "
							"outside a domain");
			ok = header_append_unfolded(domain, sizeof(domain),
						    &dlen, t.text, t.len,
						    false);
			joinable = false;
			break;
		}
		if (!ok)
			return header_scan_fail(s, "address too long");
	}
	if (!words && !at)
		return 0;	/* "<>" or an element of comments only */
	return header_add(s, hp, local, llen,
			  quoted && !header_is_dot_atom(local, llen),
			  at, domain, dlen);
}

/* header_angle_addr - after "<": [route ":"] addr-spec ">" */
static int header_angle_addr(struct header_scan *s, struct header_parser *hp)
{
	struct header_token t;

	if (header_peek(s, &t) < 0)
		return -1;
	if (header_is_special(&t, '@')) {
		/* An obsolete source route, "<@relay1,@relay2:addr>". */
		for (;;) {
			if (header_next(s, &t) < 0)
				return -1;
			if (header_is_special(&t, ':'))
				break;
			if (t.type != HEADER_TOKEN_ATOM &&
			    t.type != HEADER_TOKEN_LITERAL &&
			    !header_is_special(&t, '@') &&
			    !header_is_special(&t, ','))
				return header_scan_fail(s, "bad source route");
		}
	}
	if (header_addr_spec(s, hp, ">") < 0 || header_next(s, &t) < 0)
		return -1;
	if (!header_is_special(&t, '>'))
		return header_scan_fail(s, "\"<\" without \">\"");
	if (header_peek(s, &t) < 0)
		return -1;
	if (t.type != HEADER_TOKEN_END && !header_is_special(&t, ',') &&
	    !header_is_special(&t, ';'))
		return header_scan_fail(s, "text after <address>");
	return 0;
}

static int header_list(struct header_scan *s, struct header_parser *hp,
		       bool in_group);

/* header_element - one mailbox or group */
static int header_element(struct header_scan *s, struct header_parser *hp,
			  bool in_group)
{
	struct header_scan start = *s;
	struct header_token t;
	bool not_a_phrase = false;

	for (;;) {
		if (header_next(s, &t) < 0)
			return -1;
		if (t.type == HEADER_TOKEN_END || header_is_special(&t, ',') ||
		    header_is_special(&t, ';'))
			break;
		if (header_is_special(&t, '>'))
			return header_scan_fail(s, "\">\" without \"<\"");
		if (header_is_special(&t, '<') || header_is_special(&t, ':')) {
			/* What came before is a display or group name. */
			if (not_a_phrase)
				return header_scan_fail(s, "\"@\" or domain "
					"literal in a display name; quote "
					"the name");
			if (t.special == '<')
				return header_angle_addr(s, hp);
			if (in_group)
				return header_scan_fail(s, "group inside a "
							"group");
			if (header_list(s, hp, true) < 0 ||
			    header_next(s, &t) < 0)
				return -1;
			/* The end of the value also ends a group. */
			return 0;
		}
		if (t.type == HEADER_TOKEN_LITERAL ||
		    header_is_special(&t, '@'))
			not_a_phrase = true;
	}
	*s = start;
	return header_addr_spec(s, hp, ",;");
}

/* header_list - elements separated by "," (";" ends a group) */
static int header_list(struct header_scan *s, struct header_parser *hp,
		       bool in_group)
{
	struct header_token t;

	for (;;) {
		if (header_peek(s, &t) < 0)
			return -1;
		if (t.type == HEADER_TOKEN_END)
			return 0;
		if (header_is_special(&t, ';') && in_group)
			return 0;
		/* Empty elements are obsolete but harmless; a ";" outside
		   a group is how some clients separate addresses. */
		if (header_is_special(&t, ',') || header_is_special(&t, ';')) {
			(void)header_next(s, &t);
			continue;
		}
		if (header_element(s, hp, in_group) < 0)
			return -1;
	}
}

/* header_addresses_parse - every mailbox address of an address field */
int header_addresses_parse(const char *value, size_t len,
			   struct header_addresses *list_r,
			   const char **error_r)
{
	struct header_scan s;
	struct header_parser hp;

	list_r->count = 0;
	list_r->buf[0] = '\0';
	if (len > HEADER_FIELD_MAX) {
		*error_r = "header field too long";
		return -1;
	}
	if (memchr(value, '\0', len) != NULL) {
		*error_r = "NUL byte in header field";
		return -1;
	}
	s.p = value;
	s.end = value + len;
	s.error = NULL;
	hp.list = list_r;
	hp.used = 0;
	if (header_list(&s, &hp, false) < 0) {
		list_r->count = 0;
		*error_r = s.error != NULL ? s.error : "unreadable";
		return -1;
	}
	return 0;
}
