"""Renders extra chat-template cases (tools, tool calls, tool responses) that
chat_cases.json lacks, with Python Jinja2 set up as transformers sets it up:
ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, and a tojson that
is json.dumps(ensure_ascii=False).

Usage: python3 gen_chat_tool_cases.py ../../../testdata/qwen3-tokenizer/tokenizer_config.json > chat_tool_cases.json
"""
import sys
import json
from jinja2.sandbox import ImmutableSandboxedEnvironment
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
tpl = env.from_string(json.load(open(sys.argv[1]))['chat_template'])
weather = {"type":"function","function":{"name":"get_weather","description":"Get the weather — für Städte","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}
cases = [
 {"name":"tools_system_user","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Weather in Paris?"}],"tools":[weather],"add_generation_prompt":True,"enable_thinking":None},
 {"name":"tools_no_system","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[weather, {"type":"function","function":{"name":"now","parameters":{}}}],"add_generation_prompt":True,"enable_thinking":False},
 {"name":"tool_call_and_response","messages":[{"role":"user","content":"Weather in Paris and Rome?"},
   {"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}},{"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Rome\"}"}}]},
   {"role":"tool","content":"{\"temp\": 21}"},{"role":"tool","content":"{\"temp\": 25}"}],"tools":[weather],"add_generation_prompt":True,"enable_thinking":None},
 {"name":"tool_call_with_content_and_think","messages":[{"role":"user","content":"Weather?"},
   {"role":"assistant","content":"<think>\nneed tool\n</think>\n\nLet me check.","tool_calls":[{"name":"get_weather","arguments":{"city":"Oslo","days":3}}]},
   {"role":"tool","content":"sunny"},{"role":"assistant","content":"It is sunny."}],"add_generation_prompt":False,"enable_thinking":None},
 {"name":"tool_response_user_not_query","messages":[{"role":"user","content":"Q1"},{"role":"assistant","content":"A1"},{"role":"user","content":"<tool_response>\nx\n</tool_response>"},{"role":"assistant","content":"A2","reasoning_content":"r2"}],"add_generation_prompt":True,"enable_thinking":True},
]
out=[]
for c in cases:
    kw = dict(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"])
    if c.get("tools"): kw["tools"]=c["tools"]
    if c["enable_thinking"] is not None: kw["enable_thinking"]=c["enable_thinking"]
    c["prompt"]=tpl.render(**kw)
    out.append(c)
print(json.dumps(out, ensure_ascii=False, indent=1))
