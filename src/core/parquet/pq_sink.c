/*
 * pq_sink.c - ready-made output sinks: stdio stream and file descriptor
 *
 * The server glue brings its own sink (a descriptor it owns, written to a
 * temporary name, fsynced and renamed); these two serve tests and tools.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "pq_writer.h"

/* fwrite everything or report failure. */
static int
sink_stdio_write(void *ctx, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, (FILE *) ctx) == len ? 0 : -1;
}

/* write(2) until done, retrying interrupted and partial writes. */
static int
sink_fd_write(void *ctx, const void *buf, size_t len)
{
	int			fd = (int) (intptr_t) ctx;
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* See pq_writer.h. */
PqSink
pq_sink_stdio(FILE *f)
{
	PqSink		s = {sink_stdio_write, f};

	return s;
}

/* See pq_writer.h. */
PqSink
pq_sink_fd(int fd)
{
	PqSink		s = {sink_fd_write, (void *) (intptr_t) fd};

	return s;
}
