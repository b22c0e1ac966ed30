# Usage: python3 extract.py <vendor file> <output> <Schema,Schema,...>
# (the vendor files are Voucherify's published v1 OpenAPI description, one per resource).
# Extracts the closure of the named schemas from a Voucherify OpenAPI file, without
# descriptions, titles or examples, into a minimal OpenAPI 3.0 document.
import json,sys
src,out,roots=sys.argv[1],sys.argv[2],sys.argv[3].split(',')
d=json.load(open(src))
S=d['components']['schemas']
keep={}
def strip(x):
    if isinstance(x,dict):
        return {k:strip(v) for k,v in x.items() if k not in ('description','title','example','examples','x-readme-ref-name')}
    if isinstance(x,list): return [strip(v) for v in x]
    return x
def visit(name):
    if name in keep: return
    keep[name]=None
    keep[name]=strip(S[name])
    walk(S[name])
def walk(x):
    if isinstance(x,dict):
        if '$ref' in x: visit(x['$ref'].split('/')[-1])
        for v in x.values(): walk(v)
    elif isinstance(x,list):
        for v in x: walk(v)
for r in roots: visit(r)
doc={"openapi":"3.0.1","info":{"title":"Voucherify API subset: "+src,"version":"v2018-08-01"},"paths":{},"components":{"schemas":dict(sorted(keep.items()))}}
json.dump(doc,open(out,'w'),indent=1,sort_keys=True)
print(len(keep),'schemas')
