/* advgnn.format_table(rows, columns): an aligned text table for scripts that
 * print their own comparisons, also used for the results table of a run.
 *
 * columns is a list whose items are a key (string or integer, also the title)
 * or a table {key, title = "...", format = "%.3f", align = "left"|"right"};
 * `key` may be given as the first element or as key = .... rows is a list of
 * tables, each keyed by column key ({name = "a", auc = 0.9}) or a sequence
 * ({"a", 0.9}): the cell of column c is row[key], or row[c] when row[key] is
 * nil, the key is a string and row[1] is set. A missing cell is blank, an integer
 * prints as is, a float with "%.4f" unless the column has a format (applied
 * with string.format to any other non-nil value). A NaN or infinite number
 * prints as "n/a", as in the results table of a run. Columns whose cells are all
 * numbers are right-aligned unless `align` sets otherwise. The text has a header
 * line, a line of dashes and one line per row, each ending with "\n". */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "lua/lua_internal.h"

/* Spaces between two columns. */
#define COLUMN_GAP 2

typedef enum column_align { ALIGN_AUTO = 0, ALIGN_LEFT = 1, ALIGN_RIGHT = 2 } column_align;

typedef struct column_info {
    const char *format; /* borrowed from the columns table; NULL = default */
    column_align align;
    int all_numbers;    /* every non-nil cell is a number */
    size_t width;       /* in UTF-8 code points */
} column_info;

/* Counts code points, so names with accents still line up on a terminal. */
static size_t text_width(const char *text, size_t length)
{
    size_t width = 0;

    for (size_t i = 0; i < length; i++) {
        if (((unsigned char)text[i] & 0xC0u) != 0x80u)
            width++;
    }
    return width;
}

/* Reads column `c` of the columns table at slot 2: stores its key in the keys
 * table at slot 3 and its title as cell c of the cells table at slot 4. */
static void read_column(lua_State *L, lua_Integer c, column_info *info)
{
    int type = lua_rawgeti(L, 2, c);

    if (type == LUA_TSTRING || type == LUA_TNUMBER) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, c);
        luaL_tolstring(L, -1, NULL);
        lua_rawseti(L, 4, c);
        lua_pop(L, 1);
        return;
    }
    if (type != LUA_TTABLE)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "advgnn.format_table: column %d must be a key or a table, not a %s", (int)c,
                        luaL_typename(L, -1));

    /* The key: t.key, else t[1]. */
    if (lua_getfield(L, -1, "key") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_rawgeti(L, -1, 1);
    }
    if (lua_isnil(L, -1))
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.format_table: column %d has no key", (int)c);
    lua_pushvalue(L, -1);
    lua_rawseti(L, 3, c);

    if (lua_getfield(L, -2, "title") == LUA_TNIL) {
        lua_pop(L, 1);
        luaL_tolstring(L, -1, NULL);
    }
    lua_rawseti(L, 4, c);
    lua_pop(L, 1);

    type = lua_getfield(L, -1, "format");
    if (type != LUA_TNIL && type != LUA_TSTRING)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.format_table: column %d: format must be a string",
                        (int)c);
    info->format = lua_tostring(L, -1); /* the columns table keeps the string alive */
    lua_pop(L, 1);

    if (lua_getfield(L, -1, "align") != LUA_TNIL) {
        const char *align = lua_tostring(L, -1);

        if (align && strcmp(align, "left") == 0)
            info->align = ALIGN_LEFT;
        else if (align && strcmp(align, "right") == 0)
            info->align = ALIGN_RIGHT;
        else
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                            "advgnn.format_table: column %d: align must be \"left\" or \"right\"", (int)c);
    }
    lua_pop(L, 2);
}

/* Converts the value on top of the stack into the text of one cell, replacing it. */
static void format_cell(lua_State *L, column_info *info)
{
    int type = lua_type(L, -1);

    if (type != LUA_TNIL && type != LUA_TNUMBER)
        info->all_numbers = 0;

    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else if (type == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite((double)lua_tonumber(L, -1))) {
        /* printf would print "nan", "-nan" or "inf". "n/a" matches how the
         * results table of a run shows an undefined metric. */
        lua_pop(L, 1);
        lua_pushliteral(L, "n/a");
    } else if (info->format) {
        /* upvalue 1 is string.format, saved when the module was opened */
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushstring(L, info->format);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 1);
        lua_remove(L, -2);
    } else if (type == LUA_TNUMBER && !lua_isinteger(L, -1)) {
        char text[64];

        snprintf(text, sizeof text, "%.4f", (double)lua_tonumber(L, -1));
        lua_pop(L, 1);
        lua_pushstring(L, text);
    } else {
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
    }
}

/* Appends one line of cells [first, first + count) to the buffer. */
static void add_line(lua_State *L, luaL_Buffer *buffer, lua_Integer first, const column_info *columns,
                     size_t count)
{
    size_t pending_spaces = 0;

    for (size_t c = 0; c < count; c++) {
        size_t length;
        const char *text;
        size_t width;
        size_t padding;
        int right = columns[c].align == ALIGN_RIGHT ||
                    (columns[c].align == ALIGN_AUTO && columns[c].all_numbers);

        /* Popped before the buffer is used again, as luaL_Buffer requires;
         * the cells table keeps the string alive. */
        lua_rawgeti(L, 4, first + (lua_Integer)c);
        text = lua_tolstring(L, -1, &length);
        lua_pop(L, 1);
        width = text_width(text, length);
        padding = columns[c].width > width ? columns[c].width - width : 0;

        /* Spaces are only written before text, so lines carry no trailing blanks. */
        pending_spaces += c > 0 ? COLUMN_GAP : 0;
        if (right)
            pending_spaces += padding;
        if (length > 0) {
            for (; pending_spaces > 0; pending_spaces--)
                luaL_addchar(buffer, ' ');
            luaL_addlstring(buffer, text, length);
        }
        if (!right)
            pending_spaces += padding;
    }
    luaL_addchar(buffer, '\n');
}

static void add_rule(luaL_Buffer *buffer, const column_info *columns, size_t count)
{
    for (size_t c = 0; c < count; c++) {
        if (c > 0)
            for (int i = 0; i < COLUMN_GAP; i++)
                luaL_addchar(buffer, ' ');
        for (size_t i = 0; i < columns[c].width; i++)
            luaL_addchar(buffer, '-');
    }
    luaL_addchar(buffer, '\n');
}

int advgnn_lua_format_table(lua_State *L)
{
    lua_Integer row_count;
    lua_Integer column_count;
    column_info *columns;
    luaL_Buffer buffer;

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    row_count = (lua_Integer)lua_rawlen(L, 1);
    column_count = (lua_Integer)lua_rawlen(L, 2);
    if (column_count == 0)
        return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.format_table: the list of columns is empty");
    if (row_count > (LUA_MAXINTEGER - 1) / column_count - 1)
        return advgnn_lua_fail(L, ADVGNN_ERR_LIMIT, "advgnn.format_table: too many cells");

    /* Slots: 3 keys, 4 cell texts (row 0 = titles, row-major), 5 column info.
     * Everything lives in Lua values, so an error anywhere leaks nothing. */
    lua_createtable(L, (int)column_count, 0);
    lua_createtable(L, (int)((row_count + 1) * column_count), 0);
    columns = lua_newuserdatauv(L, (size_t)column_count * sizeof *columns, 0);
    memset(columns, 0, (size_t)column_count * sizeof *columns);

    for (lua_Integer c = 1; c <= column_count; c++) {
        columns[c - 1].all_numbers = 1;
        read_column(L, c, &columns[c - 1]);
    }

    for (lua_Integer r = 1; r <= row_count; r++) {
        if (lua_rawgeti(L, 1, r) != LUA_TTABLE)
            return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.format_table: row %d must be a table, not a %s",
                                   (int)r, luaL_typename(L, -1));
        int sequence = lua_rawgeti(L, -1, 1) != LUA_TNIL;

        lua_pop(L, 1);
        for (lua_Integer c = 1; c <= column_count; c++) {
            int key_is_string = lua_rawgeti(L, 3, c) == LUA_TSTRING;

            /* A sequence row has no string keys: column c is its element c. */
            if (lua_gettable(L, -2) == LUA_TNIL && key_is_string && sequence) {
                lua_pop(L, 1);
                lua_rawgeti(L, -1, c);
            }
            format_cell(L, &columns[c - 1]);
            lua_rawseti(L, 4, r * column_count + c);
        }
        lua_pop(L, 1);
    }

    /* Widths over the titles and every cell. */
    for (lua_Integer i = 1; i <= (row_count + 1) * column_count; i++) {
        size_t length;
        const char *text;
        column_info *info = &columns[(i - 1) % column_count];
        size_t width;

        lua_rawgeti(L, 4, i);
        text = lua_tolstring(L, -1, &length);
        width = text_width(text, length);
        if (width > info->width)
            info->width = width;
        lua_pop(L, 1);
    }

    luaL_buffinit(L, &buffer);
    add_line(L, &buffer, 1, columns, (size_t)column_count);
    add_rule(&buffer, columns, (size_t)column_count);
    for (lua_Integer r = 1; r <= row_count; r++)
        add_line(L, &buffer, r * column_count + 1, columns, (size_t)column_count);
    luaL_pushresult(&buffer);
    return 1;
}
