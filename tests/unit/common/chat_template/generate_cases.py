#!/usr/bin/env python3
"""Regenerates jinja_cases.json: expected renderings of small templates by real Jinja2 (>= 3.1) configured the way
transformers' _compile_jinja_template configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, the {% generation %} tag, HF's tojson override and raise_exception). Run from this folder:
    python3 generate_cases.py > jinja_cases.json
"""
import json

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[Generation, "jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

CASES = []


def case(name, template, context=None):
    CASES.append((name, template, context or {}))


# --- whitespace control -------------------------------------------------------------------------------------------
case("ws_trim_lstrip_blocks", "a\n  {% if true %}\n  x\n  {% endif %}\nb")
case("ws_dash_modifiers", "  {%- if true -%}  x  {%- endif -%}  y")
case("ws_variable_tags_keep_newlines", "{{ 'a' }}\n{{ 'b' }}\n")
case("ws_comments", "{# comment #}\nx{#- c -#}  y\n  {# indented #}\nz")
case("ws_plus_modifiers", "a\n  {%+ if true %}b{% endif +%}\nc")
case("ws_raw_block", "{% raw %}{{ not parsed }}{% endraw %}\nafter")
case("ws_crlf_newlines", "line1\r\nline2\r\n{% if true %}\r\nx{% endif %}")
case("ws_variable_dash", "a   {{- 'b' -}}   c\n\n{{- 'd' }}")
case("ws_trailing_newline_dropped", "x\n")
case("ws_tag_not_at_line_start", "a  {% if true %}b{% endif %}  c")
case("ws_nested_blocks", "{% for i in [1, 2] %}\n    {% if i == 1 %}\n    one\n    {% else %}\n    other\n    {% endif %}\n{% endfor %}")

# --- literals and output -------------------------------------------------------------------------------------------
case("literals", "{{ 1 }} {{ 1.5 }} {{ -3 }} {{ 'a\\tb' }} {{ \"q'\" }} {{ [1, 'a', none, true, 2.0] }} "
     "{{ {'k': [1, 2], 'n': None} }} {{ (1,) }} {{ (1, 'x') }} {{ 1e3 }} {{ 10/4 }} {{ True }} {{ false }}")
case("string_escapes", "{{ '\\u00e9\\x41\\n\\'\\\\' }}|{{ 'a' 'b' }}")
case("python_repr_strings", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'tab\\t'] }}")
case("float_repr", "{{ 0.1 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-7 }} {{ 0.0001 }} {{ 3.0 * 2 }} {{ 2 / 3 }} {{ -0.0 }}")
case("context_values", "{{ n }} {{ f }} {{ b }} {{ z }} {{ l }} {{ d }}",
     {"n": 42, "f": 2.5, "b": True, "z": None, "l": [1, "x", {"a": None}], "d": {"b": 1, "a": [True]}})

# --- operators -----------------------------------------------------------------------------------------------------
case("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 4 / 2 }} "
     "{{ 5.0 // 2 }} {{ -5.5 // 2 }} {{ 5.5 % 2 }} {{ 2 ** -1 }} {{ 1 + 2.5 }} {{ true + 1 }}")
case("precedence", "{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 'x' ~ 2 * 3 }} "
     "{{ not 1 == 2 }} {{ 10 - 2 - 3 }} {{ 1 + 2 ~ 'a' if false else 'c' }}")
case("concat", "{{ 1 ~ 'a' ~ none ~ true ~ undefined_name }}|{{ 'a' + 'b' }}|{{ [1] + [2, 3] }}|{{ 'ab' * 3 }}|{{ [0] * 2 }}")
case("comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} "
     "{{ 'a' != 'a' }} {{ none == none }} {{ 2 >= 2 }} {{ true == 1 }}")
case("membership", "{{ 'a' in 'cat' }} {{ 'k' in {'k': 1} }} {{ 3 not in [1, 2] }} {{ 'x' in missing }} {{ 2 in [1, 2] }}")
case("logic_values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ '' and 1 }} {{ not '' }} {{ not [0] }}")
case("ternary", "{{ 'a' if true else 'b' }} {{ 'a' if false else 'b' }} [{{ 'a' if false }}] "
     "{{ 'x' if 0 else 'y' if 1 else 'z' }}")
case("percent_format", "{{ '%s=%05.2f' % ('a', 3.14159) }} {{ '%d items' % 3 }} {{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }}")

# --- access ---------------------------------------------------------------------------------------------------------
case("attribute_and_subscript", "{{ m.role }} {{ m['content'] }} [{{ m.missing }}] {{ m.missing is defined }} "
     "[{{ l[10] }}] {{ l[-1] }} {{ l.0 }} {{ m.items()|list }} {{ m.get('role') }} {{ m.get('x', 'dflt') }}",
     {"m": {"role": "user", "content": "hi"}, "l": [1, 2, 3]})
case("none_attribute_is_undefined", "[{{ x.foo }}] {{ x.foo is defined }} [{{ none[0] }}]", {"x": None})
case("slicing", "{{ s[1:] }}|{{ s[:-1] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ l[-2:] }}|{{ l[5:] }}|{{ l[1:2] }}|"
     "{{ l[::-1] }}|{{ l[3:0:-1] }}|{{ s[-3:] }}", {"s": "h\u00e9llo w\u00f6rld", "l": [1, 2, 3, 4]})
case("string_indexing", "{{ s[0] }}{{ s[-1] }} {{ s|length }} {{ s|list }}", {"s": "\u4f60\u597d\u554a"})
case("dict_key_named_like_method", "{{ d['items'] }} {{ d.keys()|list }} {{ d.values()|list }}",
     {"d": {"items": 1, "b": 2}})

# --- statements -----------------------------------------------------------------------------------------------------
case("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x > 3 %}big"
     "{% else %}other{% endif %} {% endfor %}")
case("for_loop_variables", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
     "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}")
case("for_prev_next_cycle", "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-"
     "{{ loop.cycle('odd', 'even') }};{% endfor %}")
case("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}")
case("for_unpacking", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k, v in d|items %}{{ k }}{% endfor %}"
     "|{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {"d": {"x": 1, "y": 2}})
case("for_inline_filter", "{% for x in range(10) if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}")
case("for_over_dict_and_string", "{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}|{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}")
case("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}"
     "{% endif %}{{ x }}{% endfor %}")
case("nested_loops_shadow_loop", "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{% endfor %}"
     "{{ loop.index }};{% endfor %}")
case("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}"
     "|{% if true %}{% set y = 5 %}{% endif %}{{ y }}")
case("namespace", "{% set ns = namespace(total=0, found=false) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}"
     "{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.found }}")
case("namespace_from_mapping", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}")
case("set_tuple_and_block", "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set block %}  x {{ a }}  {% endset %}[{{ block }}]"
     "|{% set t | upper | trim %} hey {% endset %}[{{ t }}]")
case("macro_defaults_varargs_kwargs", "{% macro f(a, b=2) %}{{ a }}-{{ b }}-{{ varargs }}-{{ kwargs }}{% endmacro %}"
     "{{ f(1) }} {{ f(1, 3, 4, z=5) }} {{ f(b=7, a=0) }}")
case("macro_recursion", "{% macro count(n) %}{{ n }}{% if n > 0 %},{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }}")
case("macro_sees_globals", "{% macro greet() %}{{ greeting }} {{ name }}{% endmacro %}{% set name = 'bob' %}{{ greet() }}",
     {"greeting": "hello"})
case("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
     "{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}")
case("call_block_with_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
     "{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}")
case("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}")
case("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]")
case("generation_block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
     "{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}",
     {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})

# --- filters --------------------------------------------------------------------------------------------------------
case("filter_trim_case", "[{{ '  ab \\n'|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ 'Hello'|lower }} {{ 'Hello'|upper }} "
     "{{ 'hello world'|capitalize }} {{ 'hello wORLD-foo (bar)'|title }} {{ '\u00e9t\u00e9'|upper }}")
case("filter_length_count", "{{ 'h\u00e9llo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ missing|length }}")
case("filter_join", "{{ ['a', 'b']|join }} {{ ['a', 1, none]|join(', ') }} {{ [{'n': 'x'}, {'n': 'y'}]|join('-', attribute='n') }}")
case("filter_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}")
case("filter_default", "{{ x|default('d') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|d('n') }} "
     "{{ 0|default(5, boolean=true) }}")
case("filter_items_dictsort", "{{ {'b': 1, 'a': 2}|items|list }} {{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} "
     "{{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }}")
case("filter_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} [{{ []|first }}]")
case("filter_conversions", "{{ 1.5|int }} {{ '3.7'|int }} {{ 'x'|int(5) }} {{ '12'|float }} {{ ' 42 '|int }} "
     "{{ 'ff'|int(base=16) }} {{ 3|float }} {{ true|int }} {{ none|int }} {{ 5|string ~ 'x' }} {{ [1, 'a']|string }}")
case("filter_list", "{{ 'ab'|list }} {{ {'k': 1}|list }} {{ (1, 2)|list }}")
case("filter_map_select", "{{ [{'n': 'a'}, {'n': 'b'}, {}]|map(attribute='n')|list }} "
     "{{ [{'n': 'a'}, {}]|map(attribute='n', default='z')|list }} {{ ['a', 'B']|map('upper')|join }} "
     "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'x']|select|list }} "
     "{{ [1, 5, 3]|select('>', 2)|list }} {{ ['a', 'b', 'a']|reject('equalto', 'a')|list }}")
case("filter_selectattr", "{{ users|selectattr('active')|map(attribute='name')|list }} "
     "{{ users|rejectattr('active')|map(attribute='name')|list }} "
     "{{ users|selectattr('name', 'equalto', 'b')|list }} {{ users|selectattr('meta.age', 'gt', 30)|map(attribute='name')|join }}",
     {"users": [{"name": "a", "active": True, "meta": {"age": 20}}, {"name": "b", "active": False, "meta": {"age": 40}}]})
case("filter_sort_unique", "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} "
     "{{ [3, 1, 2]|sort(reverse=true) }} {{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }} {{ ['b', 'A', 'a', 'b']|unique|list }} "
     "{{ [1, 2, 1]|unique|list }}")
case("filter_numbers", "{{ -2|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.14159|round(2) }} {{ 2.675|round(2) }} "
     "{{ 3.14159|round(1, 'floor') }} {{ 3.11|round(1, 'ceil') }} {{ 7|round }} {{ [1, 2.5]|sum }} "
     "{{ [{'v': 1}, {'v': 2}]|sum(attribute='v') }} {{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ ['a', 'B']|max }}")
case("filter_indent", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}"
     "|{{ 'a\\nb'|indent('> ') }}")
case("filter_misc", "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }} {{ 'ab'|center(6) }}| "
     "{{ 'abc'|reverse }} {{ [1, 2]|reverse|list }} {{ '<a href=\"x\">&'|e }} {{ '<b>'|safe }} {{ 'one two  three'|wordcount }} "
     "{{ '%s-%s'|format('a', 1) }} {{ 'hello world foo'|truncate(9) }} {{ 'hello'|truncate(3, true, '') }}")
case("filter_attr", "{{ d|attr('x') }} [{{ d|attr('missing') }}]", {"d": {"x": 1}})
case("filter_chain_precedence", "{{ -3|abs }} {{ not 1|string }} {{ 'a' ~ [1, 2]|length }} {{ [1, 2]|length + 1 }}")

# --- tojson ---------------------------------------------------------------------------------------------------------
case("tojson_basic", "{{ x|tojson }}", {"x": {"a": [1, 2.5, None, True, "\u00e9\n\"<>&'\u2028"], "b": {}, "c": []}})
case("tojson_indent", "{{ x|tojson(indent=2) }}\n{{ x|tojson(indent=0) }}", {"x": {"a": [1, {}], "b": [], "c": {"d": "e"}}})
case("tojson_options", "{{ x|tojson(separators=(',', ':')) }} {{ x|tojson(sort_keys=true) }} {{ x|tojson(ensure_ascii=true) }} "
     "{{ 'x'|tojson }} {{ 1.0|tojson }} {{ none|tojson }} {{ [1e20, 1e-7, 0.1]|tojson }}",
     {"x": {"z": "\u4f60\U0001F600", "a": 1}})
case("tojson_indent_string", "{{ x|tojson(indent='\\t') }}", {"x": [1, [2]]})

# --- tests ----------------------------------------------------------------------------------------------------------
case("tests_types", "{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} "
     "{{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ {} is mapping }} "
     "{{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ true is boolean }} "
     "{{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} "
     "{{ range is callable }} {{ 'a' is callable }}")
case("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} "
     "{{ 2 is equalto 2 }} {{ 2 is eq 3 }} {{ 2 is ne 3 }} {{ 'a' is in 'cat' }} {{ 1 is in [2] }} {{ 3 is gt 2 }} "
     "{{ 3 is lt 2 }} {{ 3 is ge 3 }} {{ 3 is le 2 }} {{ none is sameas none }} {{ true is sameas true }} "
     "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'Abc' is lower }} {{ x is not defined }} {{ 1 is not none }}")

case("tests_sameas_identity", "{% set l = [1] %}{% set d = {'a': 1} %}{{ l is sameas l }} {{ [1] is sameas [1] }} "
     "{{ d is sameas d }} {{ {} is sameas {} }} {{ 1 is sameas 1.0 }}")
case("macro_scope_does_not_leak", "{% macro f() %}{% set inner = 1 %}{{ inner }}{% endmacro %}{{ f() }}[{{ inner }}]")
case("loop_in_macro_and_caller_loop", "{% macro rows(items) %}{% for i in items %}{{ loop.index }}:{{ caller(i) }} "
     "{% endfor %}{% endmacro %}{% call(x) rows(['a', 'b']) %}{{ x|upper }}{% endcall %}")

# --- methods --------------------------------------------------------------------------------------------------------
case("str_methods", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} "
     "[{{ '  ab  '.strip() }}] [{{ 'xxabxx'.strip('x') }}] [{{ '  ab  '.lstrip() }}] [{{ '  ab  '.rstrip() }}] "
     "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} "
     "{{ 'aXbXc'.split('X')[-1] }} {{ 'Abc'.upper() }} {{ 'Abc'.lower() }} {{ 'ab'.replace('a', 'x') }} "
     "{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'abcb'.find('b') }} {{ 'abcb'.rfind('b') }} "
     "{{ 'abcb'.count('b') }} {{ '-'.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} "
     "{{ 'ab'.isalpha() }} {{ '  '.isspace() }} {{ 'pre_x'.removeprefix('pre_') }} {{ '7'.zfill(3) }} {{ 'ab'.ljust(4) }}|")
case("str_format", "{{ '{} and {}'.format('a', 1) }} {{ '{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} "
     "{{ '{:.2f}'.format(3.14159) }} {{ '{:>5}|{:<5}|{:^5}'.format('a', 'b', 'c') }} {{ '{!r}'.format('q') }} "
     "{{ '{:05d}'.format(42) }} {{ '{{literal}}'.format() }} {{ '{0[k]}'.format({'k': 'v'}) }}")
case("qwen_think_split", "{% set c = m.split('</think>')[-1].lstrip('\\n') %}{% set r = m.split('</think>')[0]"
     ".rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}[{{ r }}][{{ c }}]",
     {"m": "<think>\nreasoning here\n</think>\n\nfinal answer"})

# --- globals --------------------------------------------------------------------------------------------------------
case("range_and_dict", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }}")
case("joiner", "{% set sep = joiner('|') %}{% for x in [1, 2, 3] %}{{ sep() }}{{ x }}{% endfor %}")

# --- realistic templates --------------------------------------------------------------------------------------------
MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]},
    {"role": "tool", "content": "{\"temp\": 21}"},
    {"role": "assistant", "content": "It is 21\u00b0C in Paris."},
    {"role": "user", "content": [{"type": "text", "text": "Thanks!"}, {"type": "text", "text": " Bye."}]},
]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}]

LLAMA31_STYLE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ (message['content'] if message['content'] is string else message['content'] | map(attribute='text') | join) | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""
case("realistic_llama31_tools", LLAMA31_STYLE, {"messages": MESSAGES, "tools": TOOLS, "bos_token": "<|begin_of_text|>",
                                                "add_generation_prompt": True})
case("realistic_llama31_no_tools", LLAMA31_STYLE, {"messages": [MESSAGES[0], MESSAGES[1]], "tools": None,
                                                   "bos_token": "<|begin_of_text|>", "add_generation_prompt": False})

MISTRAL_STYLE = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""
ALTERNATING = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "More"}]
case("realistic_mistral", MISTRAL_STYLE, {"messages": ALTERNATING, "bos_token": "<s>", "eos_token": "</s>"})

GEMMA_STYLE = """{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"""
case("realistic_gemma", GEMMA_STYLE, {"messages": ALTERNATING[1:], "bos_token": "<bos>", "add_generation_prompt": True})

HERMES_STYLE = """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool"
} %}

{%- if basic_type_map[json_spec.type] is defined %}
    {{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}
    {{- "list[" +  json_to_python_type(json_spec|items) + "]"}}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']'}}
    {%- else %}
        {{- "dict" }}
    {%- endif %}
{%- elif json_spec.type is iterable %}
    {{- "Union[" }}
    {%- for t in json_spec.type %}
      {{- json_to_python_type({"type": t}) }}
      {%- if not loop.last %}
        {{- "," }}
    {%- endif %}
    {%- endfor %}
    {{- "]" }}
{%- else %}
    {{- "Any" }}
{%- endif %}
{%- endmacro %}

{{- bos_token }}
{{- "You are a function calling AI model. <tools> " }}
{%- for tool in tools %}
    {%- if tool.function is defined %}
        {%- set tool = tool.function %}
    {%- endif %}
    {{- '{"type": "function", "function": ' }}
    {{- '{"name": "' + tool.name + '", ' }}
    {{- '"description": "' + tool.name + '(' }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {{- param_name + ": " + json_to_python_type(param_fields) }}
        {%- if not loop.last %}
            {{- ", " }}
        {%- endif %}
    {%- endfor %}
    {{- ")" }}
    {%- if tool.return is defined %}
        {{- " -> " + json_to_python_type(tool.return) }}
    {%- endif %}
    {{- " - " + tool.description + "\\n\\n" }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {%- if loop.first %}
            {{- "    Args:\\n" }}
        {%- endif %}
        {{- "        " + param_name + "(" + json_to_python_type(param_fields) + "): " + param_fields.get('description', '(none)')|trim }}
    {%- endfor %}
    {{- '", "parameters": ' }}
    {%- if tool.parameters.properties | length == 0 %}
        {{- "{}" }}
    {%- else %}
        {{- tool.parameters|tojson }}
    {%- endif %}
    {{- "}" }}
    {%- if not loop.last %}
        {{- "\\n" }}
    {%- endif %}
{%- endfor %}
{{- " </tools>" }}
{%- for message in messages %}
    {%- if message.role == "user" or message.role == "system" or (message.role == "assistant" and message.tool_calls is not defined) %}
        {{- '<|im_start|>' + message.role + '\\n' + (message.content if message.content is string else message.content|map(attribute='text')|join) + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
    {%- for tool_call in message.tool_calls %}
       {{- '\\n<tool_call>\\n' }}
           {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '{' }}
            {{- '"name": "' }}
            {{- tool_call.name }}
            {{- '"' }}
            {%- if tool_call.arguments is defined %}
                {{- ', ' }}
                {{- '"arguments": ' }}
                {{- tool_call.arguments|tojson }}
            {%- endif %}
            {{- '}' }}
            {{- '\\n</tool_call>' }}
    {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.previtem and loop.previtem.role != "tool" %}
            {{- '<|im_start|>tool\\n' }}
        {%- endif %}
        {{- '<tool_response>\\n' }}
        {{- message.content }}
        {%- if not loop.last %}
            {{- '\\n</tool_response>\\n' }}
        {%- else %}
            {{- '\\n</tool_response>' }}
        {%- endif %}
        {%- if not loop.last and loop.nextitem.role != "tool" %}
            {{- '<|im_end|>' }}
        {%- elif loop.last %}
            {{- '<|im_end|>' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""
HERMES_TOOLS = TOOLS + [{"type": "function", "function": {
    "name": "search", "description": "Search  ", "parameters": {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}},
        "opts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "mixed": {"type": ["string", "number"]}}}}}]
case("realistic_hermes_tools", HERMES_STYLE, {"messages": MESSAGES, "tools": HERMES_TOOLS, "bos_token": "",
                                              "add_generation_prompt": True})

DEEPSEEK_R1_STYLE = """{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"""
case("realistic_deepseek_r1", DEEPSEEK_R1_STYLE, {
    "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "<think>easy</think>2"},
                 {"role": "user", "content": "2+2?"}], "bos_token": "<s>", "add_generation_prompt": True})

# --- runtime errors (message checked by substring) ------------------------------------------------------------------
ERRORS = [
    ("error_raise_exception", "line1\n{{ raise_exception('Roles must alternate') }}", {}, "Roles must alternate"),
    ("error_undefined_attribute_chain", "{{ x.y.z }}", {}, "'x' is undefined"),
    ("error_string_plus_int", "\n\n{{ 'a' + 1 }}", {}, "can only concatenate str"),
    ("error_not_callable", "{{ 'a'() }}", {}, "not callable"),
    ("error_unsafe_append", "{% set l = [] %}{{ l.append(1) }}", {}, "unsafe"),
    ("error_division_by_zero", "{{ 1 // 0 }}", {}, "by zero"),
    ("error_range_too_big", "{{ range(1000000)|length }}", {}, "Range too big"),
    ("error_iterate_none", "{% for x in none %}{% endfor %}", {}, "not iterable"),
    ("error_unpack_mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}, "too many values to unpack"),
    ("error_compare_types", "{{ 1 < 'a' }}", {}, "not supported between"),
    ("error_set_attribute_non_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}, "non-namespace"),
]


def render(template, context):
    return env.from_string(template).render(**context)


def main():
    out = []
    for name, template, context in CASES:
        out.append({"name": name, "template": template, "context": context, "expected": render(template, context)})
    for name, template, context, message in ERRORS:
        try:
            render(template, context)
        except Exception as e:  # the expected failure
            assert message in str(e), (name, str(e))
            line = getattr(e, "lineno", None)
            entry = {"name": name, "template": template, "context": context, "error": message}
            if line is not None:
                entry["line"] = line
            out.append(entry)
            continue
        raise AssertionError(name + " rendered without error")
    json.dump(out, __import__("sys").stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
