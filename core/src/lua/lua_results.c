/* Results of a run as Lua values, and the table printed after each run. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>

#include "lua/lua_internal.h"

/* cJSON parses at most this many levels (CJSON_NESTING_LIMIT, 1000 in cJSON
 * 1.7); results.json has four, so deeper trees are cut off as nil. */
#define JSON_MAX_DEPTH 64

/* ---- JSON to Lua ------------------------------------------------------------ */

static void push_json_value(lua_State *L, const cJSON *item, int depth);

static void push_json_number(lua_State *L, const cJSON *item)
{
    double value = item->valuedouble;

    /* Integral values up to 2^53 (exact in a double) become Lua integers, so
     * counts print as "120", not "120.0". */
    if (isfinite(value) && floor(value) == value && fabs(value) <= 9007199254740992.0)
        lua_pushinteger(L, (lua_Integer)value);
    else
        lua_pushnumber(L, value);
}

static void push_json_value(lua_State *L, const cJSON *item, int depth)
{
    luaL_checkstack(L, 3, "results nested too deeply");
    if (depth > JSON_MAX_DEPTH || cJSON_IsNull(item) || cJSON_IsInvalid(item)) {
        lua_pushnil(L);
    } else if (cJSON_IsBool(item)) {
        lua_pushboolean(L, cJSON_IsTrue(item));
    } else if (cJSON_IsNumber(item)) {
        push_json_number(L, item);
    } else if (cJSON_IsString(item)) {
        lua_pushstring(L, item->valuestring);
    } else if (cJSON_IsArray(item)) {
        lua_Integer index = 0;

        lua_createtable(L, cJSON_GetArraySize(item), 0);
        for (const cJSON *element = item->child; element; element = element->next) {
            push_json_value(L, element, depth + 1);
            lua_rawseti(L, -2, ++index);
        }
    } else {
        lua_createtable(L, 0, cJSON_GetArraySize(item));
        for (const cJSON *member = item->child; member; member = member->next) {
            if (!member->string)
                continue;
            push_json_value(L, member, depth + 1);
            lua_setfield(L, -2, member->string);
        }
    }
}

void advgnn_lua_push_json(lua_State *L, const cJSON *json)
{
    push_json_value(L, json, 0);
}

/* ---- the results table -------------------------------------------------- */

/* Lua source of the printer. It runs once when the module opens, before the
 * script, so the standard functions it saves in locals are the originals even
 * if the script replaces them later. It receives advgnn.format_table and
 * returns print_results(results).
 *
 * One row per category and scorer label (the scorers in script order, then
 * "fused" when the results have it), then one "mean" row per label. A metric
 * that is not a number prints as "n/a", and its reason is listed below the
 * table once per metric and reason, with the categories and labels it covers. */
static const char results_printer_source[] =
    "local format_table = ...\n"
    "local stdout, pairs, ipairs, type, tostring = io.stdout, pairs, ipairs, type, tostring\n"
    "local sort, concat, format = table.sort, table.concat, string.format\n"
    "local METRICS = {\n"
    "  {key = 'image_auroc', title = 'image AUROC'},\n"
    "  {key = 'pixel_auroc', title = 'pixel AUROC'},\n"
    "  {key = 'aupro', title = 'AUPRO'},\n"
    "  {key = 'f1_max', title = 'F1-max'},\n"
    "}\n"
    "local function sorted_keys(t)\n"
    "  local keys = {}\n"
    "  for key in pairs(t) do keys[#keys + 1] = key end\n"
    "  sort(keys)\n"
    "  return keys\n"
    "end\n"
    "local function has_fused(results, categories)\n"
    "  if type(results.mean) == 'table' and results.mean.fused then return true end\n"
    "  for _, name in ipairs(categories) do\n"
    "    local category = results.categories[name]\n"
    "    if type(category.metrics) == 'table' and category.metrics.fused then return true end\n"
    "    for key in pairs(category.undefined or {}) do\n"
    "      if key:sub(1, 6) == 'fused.' then return true end\n"
    "    end\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local function labels_of(results, categories)\n"
    "  local labels = {}\n"
    "  local plugins = type(results.plugins) == 'table' and results.plugins or {}\n"
    "  for _, scorer in ipairs(plugins.scorers or {}) do\n"
    "    labels[#labels + 1] = scorer.label or scorer.name\n"
    "  end\n"
    "  if has_fused(results, categories) then labels[#labels + 1] = 'fused' end\n"
    "  return labels\n"
    "end\n"
    "return function(results)\n"
    "  local categories = sorted_keys(type(results.categories) == 'table' and results.categories or {})\n"
    "  local labels = labels_of(results, categories)\n"
    "  local rows, notes = {}, {}\n"
    "  -- One note per metric and reason, naming the categories and labels it covers.\n"
    "  local function add_note(metric, reason, category, label)\n"
    "    local key = metric.title .. '\\0' .. reason\n"
    "    local note = notes[key]\n"
    "    if not note then\n"
    "      note = {metric = metric.title, reason = reason, categories = {}, labels = {}}\n"
    "      notes[key] = note\n"
    "      notes[#notes + 1] = note\n"
    "    end\n"
    "    if not note.categories[category] then\n"
    "      note.categories[category] = true\n"
    "      note.categories[#note.categories + 1] = category\n"
    "    end\n"
    "    if not note.labels[label] then\n"
    "      note.labels[label] = true\n"
    "      note.labels[#note.labels + 1] = label\n"
    "    end\n"
    "  end\n"
    "  local function add_row(category, label, metrics, undefined, missing_reason)\n"
    "    local row = {category = category, scorer = label}\n"
    "    for _, metric in ipairs(METRICS) do\n"
    "      local value = type(metrics) == 'table' and metrics[metric.key] or nil\n"
    "      if type(value) == 'number' then\n"
    "        row[metric.key] = value\n"
    "      else\n"
    "        row[metric.key] = 'n/a'\n"
    "        local reason = type(undefined) == 'table' and undefined[label .. '.' .. metric.key]\n"
    "        add_note(metric, tostring(reason or missing_reason), category, label)\n"
    "      end\n"
    "    end\n"
    "    rows[#rows + 1] = row\n"
    "  end\n"
    "  for _, name in ipairs(categories) do\n"
    "    local category = results.categories[name]\n"
    "    for _, label in ipairs(labels) do\n"
    "      add_row(name, label, (category.metrics or {})[label], category.undefined,\n"
    "              'no value in the results')\n"
    "    end\n"
    "  end\n"
    "  local mean = type(results.mean) == 'table' and results.mean or {}\n"
    "  for _, label in ipairs(labels) do\n"
    "    add_row('mean', label, mean[label], nil, 'the results have no mean')\n"
    "  end\n"
    "  local columns = {'category', 'scorer'}\n"
    "  for _, metric in ipairs(METRICS) do\n"
    "    columns[#columns + 1] = {metric.key, title = metric.title, align = 'right'}\n"
    "  end\n"
    "  for _, row in ipairs(rows) do\n"
    "    for _, metric in ipairs(METRICS) do\n"
    "      local value = row[metric.key]\n"
    "      if type(value) == 'number' then row[metric.key] = format('%.4f', value) end\n"
    "    end\n"
    "  end\n"
    "  stdout:write(format(\"experiment '%s': results in %s\\n\", tostring(results.experiment),\n"
    "                      tostring(results.output_dir)))\n"
    "  stdout:write(format_table(rows, columns))\n"
    "  if #notes > 0 then\n"
    "    stdout:write('n/a (undefined metrics):\\n')\n"
    "    for _, note in ipairs(notes) do\n"
    "      stdout:write(format('  %s (%s; %s): %s\\n', note.metric, concat(note.categories, ', '),\n"
    "                          concat(note.labels, ', '), note.reason))\n"
    "    end\n"
    "  end\n"
    "  stdout:flush()\n"
    "end\n";

void advgnn_lua_push_results_printer(lua_State *L, int module_index)
{
    module_index = lua_absindex(L, module_index);
    if (luaL_loadbufferx(L, results_printer_source, sizeof results_printer_source - 1, "=advgnn.results", "t") !=
        LUA_OK)
        lua_error(L); /* a bug in the source above; the runner reports the message */

    lua_getfield(L, module_index, "format_table");
    lua_call(L, 1, 1);
}
