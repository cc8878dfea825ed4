// The .snet language: typed model inputs, layer calls, reusable blocks, repeat loops with loop-carried
// values, compile-time params, and memory annotations (@recompute, @checkpoint).
// Semantics (scoping, expansion, typing) live in frontend/; this file is syntax only.
grammar Snet;

program     : versionDecl? item* EOF ;
versionDecl : SNET INT ';' ;

item        : importDecl | paramDecl | blockDecl | modelDecl ;
importDecl  : IMPORT STRING ';' ;
paramDecl   : PARAM ID ':' scalarType '=' expr ';' ;
blockDecl   : annotation* BLOCK ID '(' (blockParam (',' blockParam)*)? ')' body ;
blockParam  : ID ':' typeSpec ('=' expr)? ;
modelDecl   : annotation* MODEL ID '(' (modelInput (',' modelInput)*)? ')' ARROW '(' ID (',' ID)* ')' body ;
modelInput  : ID ':' tensorType ;

scalarType  : INT_T | FLOAT_T | BOOL_T ;
typeSpec    : scalarType | tensorType ;
tensorType  : DTYPE ('[' (dim (',' dim)*)? ']')? ;
dim         : '_' | expr ;

body        : '{' stmt* '}' ;
stmt        : annotation* stmtCore ;
stmtCore    : target '=' expr ';'                                   # assignStmt
            | REPEAT ID IN expr '..' expr body ';'?                 # repeatStmt
            | RETURN expr (',' expr)* ';'                           # returnStmt
            | YIELD expr ';'                                        # yieldStmt
            | WEIGHT ID ':' tensorType ('=' ID '(' argList? ')')? ';'  # weightStmt
            ;
target      : ID                                                    # singleTarget
            | '(' ID (',' ID)+ ')'                                  # tupleTarget
            ;
annotation  : '@' ID ;

expr        : primary                                               # primaryExpr
            | expr '(' argList? ')'                                 # callExpr
            | expr '[' index (',' index)* ']'                       # indexExpr
            | expr '.' name=(ID | WEIGHT)                           # memberExpr
            | <assoc=right> expr op='**' expr                       # powExpr
            | op=('-' | NOT) expr                                   # unaryExpr
            | expr op=('*' | '/' | '%') expr                        # mulExpr
            | expr op=('+' | '-') expr                              # addExpr
            | expr op=('<' | '<=' | '>' | '>=') expr                # relExpr
            | expr op=('==' | '!=') expr                            # eqExpr
            | expr AND expr                                         # andExpr
            | expr OR expr                                          # orExpr
            | IF expr THEN expr ELSE expr                           # ifExpr
            | REPEAT ID IN expr '..' expr body                      # repeatExpr
            ;
primary     : INT                                                   # intLit
            | FLOAT                                                 # floatLit
            | (TRUE | FALSE)                                        # boolLit
            | STRING                                                # stringLit
            | ID                                                    # nameRef
            | '(' expr ')'                                          # parenExpr
            | '[' (expr (',' expr)*)? ']'                           # listLit
            ;
argList     : arg (',' arg)* ;
arg         : (ID '=')? expr ;
index       : expr                                                  # pointIndex
            | lo=expr? ':' hi=expr? (':' step=expr?)?               # rangeIndex
            ;

SNET    : 'snet' ;
IMPORT  : 'import' ;
PARAM   : 'param' ;
BLOCK   : 'block' ;
MODEL   : 'model' ;
REPEAT  : 'repeat' ;
IN      : 'in' ;
RETURN  : 'return' ;
YIELD   : 'yield' ;
WEIGHT  : 'weight' ;
IF      : 'if' ;
THEN    : 'then' ;
ELSE    : 'else' ;
AND     : 'and' ;
OR      : 'or' ;
NOT     : 'not' ;
TRUE    : 'true' ;
FALSE   : 'false' ;
INT_T   : 'int' ;
FLOAT_T : 'float' ;
BOOL_T  : 'bool' ;
DTYPE   : 'f32' | 'i32' | 'bf16' | 'f16' ;
ARROW   : '->' ;

FLOAT   : [0-9]+ '.' [0-9]+ EXP? | [0-9]+ EXP ;
INT     : [0-9]+ ;
fragment EXP : [eE] [+-]? [0-9]+ ;
ID      : [a-zA-Z_] [a-zA-Z_0-9]* ;
STRING  : '"' (~["\\\r\n] | '\\' .)* '"' ;
COMMENT : '#' ~[\r\n]* -> skip ;
WS      : [ \t\r\n]+ -> skip ;
