/*
 * NAME
 *	replay - run a fuzz target's inputs without libFuzzer
 * SYNOPSIS
 *	replay-<target> FILE|DIRECTORY...
 * DESCRIPTION
 *	Linked with one tests/fuzz/fuzz-<target>.c, built with the
 *	compiler of the unit tests and ASan/UBSan: hands every file
 *	named, and every regular file in a directory named (in name
 *	order, not recursively), once to LLVMFuzzerTestOneInput(). The
 *	seed corpora and the kept crash reproducers
 *	(tests/fuzz/regressions/) replay this way in every "make check",
 *	with no fuzzing time.
 * DIAGNOSTICS
 *	A sanitizer report or a failed check of the target aborts the
 *	run; a file that cannot be read is an error (exit 1). Prints the
 *	number of inputs replayed.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay_file - one input; -1 if it cannot be read */
static int replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t size = 0, alloc = 0, n;

	if (fp == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (size == alloc) {
			alloc = alloc == 0 ? 65536 : alloc * 2;
			data = realloc(data, alloc);
			if (data == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				exit(1);
			}
		}
		n = fread(data + size, 1, alloc - size, fp);
		size += n;
	} while (n > 0);
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(fp);
		free(data);
		return -1;
	}
	fclose(fp);
	/* An exact-size copy, as libFuzzer hands it: a read past the
	   input is an ASan report here too. */
	uint8_t *input = malloc(size > 0 ? size : 1);
	if (input == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		exit(1);
	}
	memcpy(input, data, size);
	free(data);
	(void)LLVMFuzzerTestOneInput(input, size);
	free(input);
	return 0;
}

/* replay_name_cmp - directory entries in name order */
static int replay_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* replay_dir - every regular file of a directory */
static int replay_dir(const char *dir, unsigned long *count)
{
	struct dirent **names;
	int n, ret = 0;

	n = scandir(dir, &names, NULL, replay_name_cmp);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int len = snprintf(path, sizeof(path), "%s/%s", dir,
				   names[i]->d_name);

		if (len < 0 || (size_t)len >= sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: name too long\n", dir,
				names[i]->d_name);
			ret = -1;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				ret = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

/* main - replay every argument */
int main(int argc, char **argv)
{
	unsigned long count = 0;
	int status = 0;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			status = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				status = 1;
		} else if (replay_file(argv[i]) < 0) {
			status = 1;
		} else {
			count++;
		}
	}
	printf("%s: %lu inputs replayed\n", argv[0], count);
	return status;
}
