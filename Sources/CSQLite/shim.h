// The system's SQLite (Debian: libsqlite3-dev). Only what Swift cannot express is added here.
#pragma once
#include <sqlite3.h>

// SQLITE_TRANSIENT is a function-pointer cast macro that Swift cannot import.
static inline sqlite3_destructor_type solo_sqlite_transient(void) { return SQLITE_TRANSIENT; }
