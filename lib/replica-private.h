#ifndef MAILGRANTS_REPLICA_PRIVATE_H
#define MAILGRANTS_REPLICA_PRIVATE_H

/*
 * NAME
 *	replica-private - what rights.c needs of the reader's internals
 * DESCRIPTION
 *	Only the core's query modules include this. Statements are
 *	prepared once per opened file and reset after each use.
 */

#include <sqlite3.h>

#include "replica.h"

enum replica_stmt {
	REPLICA_STMT_USER,
	REPLICA_STMT_MAILBOX_BY_ADDRESS,
	REPLICA_STMT_DOMAIN,
	REPLICA_STMT_SHARES_OF,
	REPLICA_STMT_IN_GROUP,
	REPLICA_STMT_ACCESS,
	REPLICA_STMT_WHO,
	REPLICA_STMT_RECIPIENT,
	REPLICA_STMT_SHARE,
	REPLICA_STMT_META,
	REPLICA_STMT_BEGIN,
	REPLICA_STMT_COMMIT,
	REPLICA_STMT_COUNT
};

/* replica_stmt - the prepared statement, or NULL with error_r set */
sqlite3_stmt *replica_stmt(struct replica *rep, enum replica_stmt which,
			   const char **error_r);
/* replica_error - format an SQLite error for the replica into error_r */
const char *replica_error(struct replica *rep, const char *what);

#endif
