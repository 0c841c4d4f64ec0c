/* advgnn.sweep(grid, fn): calls fn for every point of a parameter grid, or
 * for this process's share of the points when the run is split into shards
 * (advgnn run --shard I/N, or a Slurm job array).
 *
 * grid maps names to non-empty lists of values. The points are the Cartesian
 * product with the names in byte order and the last name varying fastest, so
 * every shard enumerates the same sequence. Point i (0-based) belongs to shard
 * i % N. fn(point, index) receives a fresh table {name = value, ...} and the
 * 1-based index of the point in the whole grid; sweep returns a list of
 * {index = i, point = point, result = <what fn returned>} for the points this
 * shard ran, in grid order.
 *
 * NOTE: only sweep points are split. Code outside advgnn.sweep, such as a
 * plain experiment:run(), runs in every shard. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_internal.h"

/* More points than this is almost surely a mistake in the grid (a list
 * instead of a range), not a sweep anyone means to run. */
#define SWEEP_POINTS_MAX 1000000

static int name_less(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the grid at slot 1 and pushes a sorted list of its names. Returns
 * the number of points. */
static lua_Integer read_grid(lua_State *L, lua_Integer *name_count)
{
    lua_Integer count = 0;
    lua_Integer points = 1;
    const char **names;

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_Integer length = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;

        if (lua_type(L, -2) != LUA_TSTRING)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.sweep: grid keys must be names, not a %s",
                            luaL_typename(L, -2));
        if (length == 0)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                            "advgnn.sweep: grid.%s must be a non-empty list of values, not %s%s",
                            lua_tostring(L, -2), lua_istable(L, -1) ? "an empty " : "a ", luaL_typename(L, -1));
        if (points > SWEEP_POINTS_MAX / length)
            advgnn_lua_fail(L, ADVGNN_ERR_LIMIT, "advgnn.sweep: the grid has more than %d points", SWEEP_POINTS_MAX);
        points *= length;
        count++;
        lua_pop(L, 1);
    }
    if (count == 0)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.sweep: the grid is empty; give lists such as {k = {1, 3}}");

    /* Sort the names in a userdata array; the grid table keeps the strings alive. */
    names = lua_newuserdatauv(L, (size_t)count * sizeof *names, 0);
    count = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        names[count++] = lua_tostring(L, -1);
    }
    qsort(names, (size_t)count, sizeof *names, name_less);

    lua_createtable(L, (int)count, 0);
    for (lua_Integer i = 0; i < count; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_remove(L, -2);
    *name_count = count;
    return points;
}

/* Pushes the point of 0-based `index`: the last name varies fastest. */
static void push_point(lua_State *L, int names, lua_Integer name_count, lua_Integer index)
{
    lua_createtable(L, 0, (int)name_count);
    for (lua_Integer k = name_count; k >= 1; k--) {
        lua_Integer length;

        lua_rawgeti(L, names, k);
        lua_pushvalue(L, -1);
        lua_gettable(L, 1);
        length = (lua_Integer)lua_rawlen(L, -1);
        lua_rawgeti(L, -1, index % length + 1);
        lua_remove(L, -2);
        lua_settable(L, -3);
        index /= length;
    }
}

static int l_sweep(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    int shard_count = env->settings->shard_count > 1 ? env->settings->shard_count : 1;
    int shard_index = shard_count > 1 ? env->settings->shard_index : 0;
    lua_Integer name_count = 0;
    lua_Integer points;
    lua_Integer ran = 0;

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    points = read_grid(L, &name_count); /* slot 3: sorted names */
    lua_newtable(L);                    /* slot 4: results */

    if (shard_count > 1) {
        lua_Integer share = shard_index < points ? (points - shard_index + shard_count - 1) / shard_count : 0;

        advgnn_log(env->ctx, ADVGNN_LOG_INFO, "sweep: %lld points in the grid, %lld of them in shard %d/%d",
                   (long long)points, (long long)share, shard_index, shard_count);
    }

    for (lua_Integer i = shard_index; i < points; i += shard_count) {
        advgnn_log(env->ctx, ADVGNN_LOG_INFO, "sweep: point %lld of %lld", (long long)i + 1, (long long)points);
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, i + 1);
        lua_setfield(L, -2, "index");
        push_point(L, 3, name_count, i);
        lua_setfield(L, -2, "point");

        /* fn gets its own copy of the point, so changing it does not alter
         * the one in the results. */
        lua_pushvalue(L, 2);
        push_point(L, 3, name_count, i);
        lua_pushinteger(L, i + 1);
        lua_call(L, 2, 1);
        lua_setfield(L, -2, "result");
        lua_rawseti(L, 4, ++ran);
    }
    return 1;
}

void advgnn_lua_open_sweep(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    int shard_count = env->settings->shard_count > 1 ? env->settings->shard_count : 1;

    lua_pushcfunction(L, l_sweep);
    lua_setfield(L, -2, "sweep");

    /* advgnn.shard: which share of the sweeps this process runs. */
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, shard_count > 1 ? env->settings->shard_index : 0);
    lua_setfield(L, -2, "index");
    lua_pushinteger(L, shard_count);
    lua_setfield(L, -2, "count");
    lua_setfield(L, -2, "shard");
}
