// The system SQLite (libsqlite3-dev), for the durable-route yardstick of ticketd-ceiling:
// the least work a durable intake can do, written against SQLite's C API directly.
#include <sqlite3.h>
