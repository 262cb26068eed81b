/*
    netcode.io 1.02 conformance vector generator.

    Builds against the C reference implementation (mas-bandwidth/netcode) by
    #including netcode.c directly, so it can reach the internal (non-public)
    functions that write/encrypt/read tokens and packets. Every byte in the
    output is produced by the reference's own functions from FIXED inputs,
    and every vector is read back through the reference's read functions
    (netcode_read_packet, netcode_read_connect_token, ...) before it is
    written out. Any mismatch aborts with a non-zero exit status.

    See README.md next to this file for the exact build command and the
    reference commit.

    usage: gen_vectors [output.json]      (default: stdout)
*/

/* ---------------------------------------------------------------------------
   Deterministic injection for the one cross-check that calls the reference's
   public netcode_generate_connect_token(): that function draws its nonce and
   keys from randombytes_buf() and stamps time(NULL). Before netcode.c is
   included, both names are redirected to functions below that return the
   fixed inputs, so the bytes it produces can be compared with the bytes of the
   step-by-step pipeline. <time.h> is included first so the macro does not
   rename libc's own declaration.
   ------------------------------------------------------------------------- */

#include <time.h>
#include <stddef.h>
#include <stdint.h>

void gen_randombytes_buf( void * const buf, const size_t size );
time_t gen_time( time_t * t );

#define randombytes_buf gen_randombytes_buf
#define time( t ) gen_time( t )

#define NETCODE_ENABLE_TESTS 0
#include "netcode.c"

#undef randombytes_buf
#undef time
void randombytes_buf( void * const buf, const size_t size );   /* the real one, in sodium.c */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NETCODE_REF_COMMIT
#define NETCODE_REF_COMMIT "unknown"
#endif

#define GENERATOR_PATH "tools/netcode_vectors/gen_vectors.c"

/* ------------------------------------------------------------------------- */

#define CHECK( cond ) do { if ( !( cond ) ) { fprintf( stderr, "gen_vectors: CHECK FAILED: %s (%s:%d)\n", #cond, __FILE__, __LINE__ ); exit( 1 ); } } while ( 0 )

/* ---------------------------- fixed inputs ------------------------------- */

/* private key and protocol id are the ones hardcoded in the reference's
   client.c / server.c examples, so the same constants serve the live interop */

static uint8_t PRIVATE_KEY[32] = { 0x60, 0x6a, 0xbe, 0x6e, 0xc9, 0x19, 0x10, 0xea,
                                   0x9a, 0x65, 0x62, 0xf6, 0x6f, 0x2b, 0x30, 0xe4,
                                   0x43, 0x71, 0xd6, 0x2c, 0xd1, 0x99, 0x27, 0x26,
                                   0x6b, 0x3c, 0x60, 0xf4, 0xb7, 0x15, 0xab, 0xa1 };

#define PROTOCOL_ID         0x1122334455667788ULL
#define CREATE_TIMESTAMP    1700000000ULL                     /* 2023-11-14T22:13:20Z */
#define EXPIRE_SECONDS      30
#define EXPIRE_TIMESTAMP    ( CREATE_TIMESTAMP + EXPIRE_SECONDS )
#define CLIENT_ID           0x0123456789abcdefULL
#define TIMEOUT_SECONDS     5
#define CHALLENGE_SEQUENCE  0x0102030405060708ULL

#define NUM_ADDRESSES 3
static NETCODE_CONST char * SERVER_ADDRESSES[NUM_ADDRESSES] = {
    "1.2.3.4:40000",
    "[::1]:40000",
    "[2001:db8:85a3::8a2e:370:7334]:50000",
};

static uint8_t CONNECT_TOKEN_NONCE[24];     /* 0xa0 + i */
static uint8_t CLIENT_TO_SERVER_KEY[32];    /* 0x40 + i */
static uint8_t SERVER_TO_CLIENT_KEY[32];    /* 0x80 + i */
static uint8_t USER_DATA[256];              /* i */
static uint8_t CHALLENGE_KEY[32];           /* 0xc0 + i */

static void init_fixed_inputs( void )
{
    int i;
    for ( i = 0; i < 24; i++ )  CONNECT_TOKEN_NONCE[i] = (uint8_t) ( 0xa0 + i );
    for ( i = 0; i < 32; i++ )  CLIENT_TO_SERVER_KEY[i] = (uint8_t) ( 0x40 + i );
    for ( i = 0; i < 32; i++ )  SERVER_TO_CLIENT_KEY[i] = (uint8_t) ( 0x80 + i );
    for ( i = 0; i < 256; i++ ) USER_DATA[i] = (uint8_t) i;
    for ( i = 0; i < 32; i++ )  CHALLENGE_KEY[i] = (uint8_t) ( 0xc0 + i );
}

/* ----------------- deterministic randomness / time injection ------------- */

static int injection_enabled = 0;
static int injection_step = 0;

void gen_randombytes_buf( void * const buf, const size_t size )
{
    if ( !injection_enabled )
    {
        randombytes_buf( buf, size );
        return;
    }
    /* netcode_generate_connect_token draws: nonce (24), then client->server key (32), then server->client key (32) */
    switch ( injection_step++ )
    {
        case 0: CHECK( size == 24 ); memcpy( buf, CONNECT_TOKEN_NONCE, 24 ); break;
        case 1: CHECK( size == 32 ); memcpy( buf, CLIENT_TO_SERVER_KEY, 32 ); break;
        case 2: CHECK( size == 32 ); memcpy( buf, SERVER_TO_CLIENT_KEY, 32 ); break;
        default: CHECK( !"unexpected extra randombytes_buf call" );
    }
}

time_t gen_time( time_t * t )
{
    time_t value = injection_enabled ? (time_t) CREATE_TIMESTAMP : time( NULL );
    if ( t ) *t = value;
    return value;
}

/* --------------------------- tiny JSON writer ---------------------------- */

static FILE * out;
static int json_first[64];
static int json_depth = 0;

static void j_indent( void ) { int i; for ( i = 0; i < json_depth; i++ ) fputs( "  ", out ); }

static void j_sep( void )
{
    if ( json_depth > 0 )
    {
        if ( !json_first[json_depth] ) fputc( ',', out );
        json_first[json_depth] = 0;
        fputc( '\n', out );
        j_indent();
    }
}

static void j_key( const char * key ) { j_sep(); if ( key ) fprintf( out, "\"%s\": ", key ); }

static void j_open( const char * key, char c ) { j_key( key ); fputc( c, out ); json_first[++json_depth] = 1; }
static void j_close( char c ) { int empty = json_first[json_depth]; json_depth--; if ( !empty ) { fputc( '\n', out ); j_indent(); } fputc( c, out ); }

static void j_str( const char * key, const char * s )
{
    j_key( key );
    fputc( '"', out );
    for ( ; *s; s++ )
    {
        if ( *s == '"' || *s == '\\' ) fprintf( out, "\\%c", *s );
        else if ( (unsigned char) *s < 0x20 ) fprintf( out, "\\u%04x", *s );
        else fputc( *s, out );
    }
    fputc( '"', out );
}

static void j_hex( const char * key, const uint8_t * b, int n )
{
    int i;
    j_key( key );
    fputc( '"', out );
    for ( i = 0; i < n; i++ ) fprintf( out, "%02x", b[i] );
    fputc( '"', out );
}

static void j_u64( const char * key, uint64_t v ) { j_key( key ); fprintf( out, "%" PRIu64, v ); }
static void j_i64( const char * key, int64_t v ) { j_key( key ); fprintf( out, "%" PRId64, v ); }
static void j_null( const char * key ) { j_key( key ); fputs( "null", out ); }

/* ------------------------------ helpers ---------------------------------- */

static uint8_t ALLOW_ALL[NETCODE_CONNECTION_NUM_PACKETS] = { 1, 1, 1, 1, 1, 1, 1 };

static const char * TYPE_NAMES[NETCODE_CONNECTION_NUM_PACKETS] = {
    "connection_request", "connection_denied", "connection_challenge", "connection_response",
    "connection_keep_alive", "connection_payload", "connection_disconnect" };

/* outputs shared between sections */
static uint8_t g_private_plaintext[NETCODE_CONNECT_TOKEN_PRIVATE_BYTES];
static uint8_t g_private_encrypted[NETCODE_CONNECT_TOKEN_PRIVATE_BYTES];
static uint8_t g_public_token[NETCODE_CONNECT_TOKEN_BYTES];
static uint8_t g_token_ad[NETCODE_VERSION_INFO_BYTES + 8 + 8];
static struct netcode_address_t g_addresses[NUM_ADDRESSES];

static uint8_t g_challenge_plaintext[NETCODE_CHALLENGE_TOKEN_BYTES];
static uint8_t g_challenge_encrypted[NETCODE_CHALLENGE_TOKEN_BYTES];
static uint8_t g_challenge_nonce[12];

static int address_equal_strict( struct netcode_address_t * a, struct netcode_address_t * b )
{
    return netcode_address_equal( a, b );
}

/* ------------------------------ connect token ---------------------------- */

static void build_connect_token( void )
{
    int i;

    for ( i = 0; i < NUM_ADDRESSES; i++ )
        CHECK( netcode_parse_address( SERVER_ADDRESSES[i], &g_addresses[i] ) == NETCODE_OK );

    CHECK( g_addresses[0].type == NETCODE_ADDRESS_IPV4 );
    CHECK( g_addresses[1].type == NETCODE_ADDRESS_IPV6 );
    CHECK( g_addresses[2].type == NETCODE_ADDRESS_IPV6 );

    /* step-by-step, exactly the sequence netcode_generate_connect_token performs,
       with the random nonce/keys and time(NULL) replaced by fixed inputs */

    struct netcode_connect_token_private_t priv;
    memset( &priv, 0, sizeof( priv ) );
    netcode_generate_connect_token_private( &priv, CLIENT_ID, TIMEOUT_SECONDS, NUM_ADDRESSES, g_addresses, USER_DATA );
    memcpy( priv.client_to_server_key, CLIENT_TO_SERVER_KEY, 32 );   /* overwrite the random keys */
    memcpy( priv.server_to_client_key, SERVER_TO_CLIENT_KEY, 32 );

    netcode_write_connect_token_private( &priv, g_private_plaintext, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );

    memcpy( g_private_encrypted, g_private_plaintext, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );
    CHECK( netcode_encrypt_connect_token_private( g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, NETCODE_VERSION_INFO,
                                                  PROTOCOL_ID, EXPIRE_TIMESTAMP, CONNECT_TOKEN_NONCE, PRIVATE_KEY ) == NETCODE_OK );

    struct netcode_connect_token_t ct;
    memset( &ct, 0, sizeof( ct ) );
    memcpy( ct.version_info, NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
    ct.protocol_id = PROTOCOL_ID;
    ct.create_timestamp = CREATE_TIMESTAMP;
    ct.expire_timestamp = EXPIRE_TIMESTAMP;
    memcpy( ct.nonce, CONNECT_TOKEN_NONCE, 24 );
    memcpy( ct.private_data, g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );
    ct.timeout_seconds = TIMEOUT_SECONDS;
    ct.num_server_addresses = NUM_ADDRESSES;
    for ( i = 0; i < NUM_ADDRESSES; i++ ) ct.server_addresses[i] = g_addresses[i];
    memcpy( ct.client_to_server_key, CLIENT_TO_SERVER_KEY, 32 );
    memcpy( ct.server_to_client_key, SERVER_TO_CLIENT_KEY, 32 );

    netcode_write_connect_token( &ct, g_public_token, NETCODE_CONNECT_TOKEN_BYTES );

    /* associated data, as netcode_encrypt_connect_token_private builds it */
    {
        uint8_t * p = g_token_ad;
        netcode_write_bytes( &p, NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
        netcode_write_uint64( &p, PROTOCOL_ID );
        netcode_write_uint64( &p, EXPIRE_TIMESTAMP );
    }

    /* ---- cross-check 1: the public API with injected determinism produces identical bytes ---- */
    {
        uint8_t api_token[NETCODE_CONNECT_TOKEN_BYTES];
        injection_enabled = 1; injection_step = 0;
        CHECK( netcode_generate_connect_token( NUM_ADDRESSES, SERVER_ADDRESSES, SERVER_ADDRESSES, EXPIRE_SECONDS, TIMEOUT_SECONDS,
                                               CLIENT_ID, PROTOCOL_ID, PRIVATE_KEY, USER_DATA, api_token ) == NETCODE_OK );
        CHECK( injection_step == 3 );
        injection_enabled = 0;
        CHECK( memcmp( api_token, g_public_token, NETCODE_CONNECT_TOKEN_BYTES ) == 0 );
    }

    /* ---- cross-check 2: read everything back through the reference readers ---- */
    {
        struct netcode_connect_token_t rt;
        uint8_t copy[NETCODE_CONNECT_TOKEN_BYTES];
        memcpy( copy, g_public_token, sizeof( copy ) );
        CHECK( netcode_read_connect_token( copy, NETCODE_CONNECT_TOKEN_BYTES, &rt ) == NETCODE_OK );
        CHECK( memcmp( rt.version_info, NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES ) == 0 );
        CHECK( rt.protocol_id == PROTOCOL_ID );
        CHECK( rt.create_timestamp == CREATE_TIMESTAMP );
        CHECK( rt.expire_timestamp == EXPIRE_TIMESTAMP );
        CHECK( memcmp( rt.nonce, CONNECT_TOKEN_NONCE, 24 ) == 0 );
        CHECK( memcmp( rt.private_data, g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES ) == 0 );
        CHECK( rt.timeout_seconds == TIMEOUT_SECONDS );
        CHECK( rt.num_server_addresses == NUM_ADDRESSES );
        for ( i = 0; i < NUM_ADDRESSES; i++ ) CHECK( address_equal_strict( &rt.server_addresses[i], &g_addresses[i] ) );
        CHECK( memcmp( rt.client_to_server_key, CLIENT_TO_SERVER_KEY, 32 ) == 0 );
        CHECK( memcmp( rt.server_to_client_key, SERVER_TO_CLIENT_KEY, 32 ) == 0 );

        uint8_t dec[NETCODE_CONNECT_TOKEN_PRIVATE_BYTES];
        memcpy( dec, rt.private_data, sizeof( dec ) );
        CHECK( netcode_decrypt_connect_token_private( dec, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, NETCODE_VERSION_INFO,
                                                      PROTOCOL_ID, EXPIRE_TIMESTAMP, CONNECT_TOKEN_NONCE, PRIVATE_KEY ) == NETCODE_OK );
        /* decrypt is in place over the first 1008 bytes; the last 16 still hold the MAC */
        CHECK( memcmp( dec, g_private_plaintext, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES - NETCODE_MAC_BYTES ) == 0 );
        for ( i = NETCODE_CONNECT_TOKEN_PRIVATE_BYTES - NETCODE_MAC_BYTES; i < NETCODE_CONNECT_TOKEN_PRIVATE_BYTES; i++ )
            CHECK( g_private_plaintext[i] == 0 );

        struct netcode_connect_token_private_t rp;
        CHECK( netcode_read_connect_token_private( dec, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, &rp ) == NETCODE_OK );
        CHECK( rp.client_id == CLIENT_ID );
        CHECK( rp.timeout_seconds == TIMEOUT_SECONDS );
        CHECK( rp.num_server_addresses == NUM_ADDRESSES );
        for ( i = 0; i < NUM_ADDRESSES; i++ ) CHECK( address_equal_strict( &rp.server_addresses[i], &g_addresses[i] ) );
        CHECK( memcmp( rp.client_to_server_key, CLIENT_TO_SERVER_KEY, 32 ) == 0 );
        CHECK( memcmp( rp.server_to_client_key, SERVER_TO_CLIENT_KEY, 32 ) == 0 );
        CHECK( memcmp( rp.user_data, USER_DATA, 256 ) == 0 );

        /* wrong key / tampered associated data must fail */
        memcpy( dec, g_private_encrypted, sizeof( dec ) );
        CHECK( netcode_decrypt_connect_token_private( dec, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, NETCODE_VERSION_INFO,
                                                      PROTOCOL_ID, EXPIRE_TIMESTAMP + 1, CONNECT_TOKEN_NONCE, PRIVATE_KEY ) != NETCODE_OK );
        memcpy( dec, g_private_encrypted, sizeof( dec ) );
        CHECK( netcode_decrypt_connect_token_private( dec, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, NETCODE_VERSION_INFO,
                                                      PROTOCOL_ID ^ 1, EXPIRE_TIMESTAMP, CONNECT_TOKEN_NONCE, PRIVATE_KEY ) != NETCODE_OK );
    }

    /* ---- cross-check 3: independent libsodium call with the documented AD/nonce ---- */
    {
        uint8_t dec[NETCODE_CONNECT_TOKEN_PRIVATE_BYTES];
        unsigned long long dlen = 0;
        CHECK( crypto_aead_xchacha20poly1305_ietf_decrypt( dec, &dlen, NULL, g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES,
                                                           g_token_ad, sizeof( g_token_ad ), CONNECT_TOKEN_NONCE, PRIVATE_KEY ) == 0 );
        CHECK( dlen == NETCODE_CONNECT_TOKEN_PRIVATE_BYTES - NETCODE_MAC_BYTES );
        CHECK( memcmp( dec, g_private_plaintext, dlen ) == 0 );
    }
}

static void emit_connect_token( void )
{
    int i;
    j_open( "connect_token", '{' );

    j_open( "inputs", '{' );
    j_hex( "private_key", PRIVATE_KEY, 32 );
    j_u64( "protocol_id", PROTOCOL_ID );
    j_u64( "create_timestamp", CREATE_TIMESTAMP );
    j_u64( "expire_timestamp", EXPIRE_TIMESTAMP );
    j_hex( "nonce", CONNECT_TOKEN_NONCE, 24 );
    j_u64( "client_id", CLIENT_ID );
    j_i64( "timeout_seconds", TIMEOUT_SECONDS );
    j_open( "server_addresses", '[' );
    for ( i = 0; i < NUM_ADDRESSES; i++ ) j_str( NULL, SERVER_ADDRESSES[i] );
    j_close( ']' );
    j_open( "internal_server_addresses", '[' );
    for ( i = 0; i < NUM_ADDRESSES; i++ ) j_str( NULL, SERVER_ADDRESSES[i] );
    j_close( ']' );
    j_hex( "client_to_server_key", CLIENT_TO_SERVER_KEY, 32 );
    j_hex( "server_to_client_key", SERVER_TO_CLIENT_KEY, 32 );
    j_hex( "user_data", USER_DATA, 256 );
    j_close( '}' );

    j_open( "outputs", '{' );
    j_hex( "version_info", NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
    j_hex( "associated_data", g_token_ad, sizeof( g_token_ad ) );
    j_hex( "private_plaintext", g_private_plaintext, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );
    j_hex( "private_encrypted", g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );
    j_hex( "public_token", g_public_token, NETCODE_CONNECT_TOKEN_BYTES );
    j_close( '}' );

    j_close( '}' );
}

/* ----------------------------- challenge token --------------------------- */

static void build_challenge_token( void )
{
    struct netcode_challenge_token_t tok;
    tok.client_id = CLIENT_ID;
    memcpy( tok.user_data, USER_DATA, 256 );

    netcode_write_challenge_token( &tok, g_challenge_plaintext, NETCODE_CHALLENGE_TOKEN_BYTES );
    memcpy( g_challenge_encrypted, g_challenge_plaintext, NETCODE_CHALLENGE_TOKEN_BYTES );
    CHECK( netcode_encrypt_challenge_token( g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES, CHALLENGE_SEQUENCE, CHALLENGE_KEY ) == NETCODE_OK );

    {
        uint8_t * p = g_challenge_nonce;
        netcode_write_uint32( &p, 0 );
        netcode_write_uint64( &p, CHALLENGE_SEQUENCE );
    }

    /* read back via the reference */
    uint8_t dec[NETCODE_CHALLENGE_TOKEN_BYTES];
    memcpy( dec, g_challenge_encrypted, sizeof( dec ) );
    CHECK( netcode_decrypt_challenge_token( dec, NETCODE_CHALLENGE_TOKEN_BYTES, CHALLENGE_SEQUENCE, CHALLENGE_KEY ) == NETCODE_OK );
    CHECK( memcmp( dec, g_challenge_plaintext, NETCODE_CHALLENGE_TOKEN_BYTES - NETCODE_MAC_BYTES ) == 0 );
    struct netcode_challenge_token_t rt;
    CHECK( netcode_read_challenge_token( dec, NETCODE_CHALLENGE_TOKEN_BYTES, &rt ) == NETCODE_OK );
    CHECK( rt.client_id == CLIENT_ID );
    CHECK( memcmp( rt.user_data, USER_DATA, 256 ) == 0 );
    int i;
    for ( i = 8 + 256; i < NETCODE_CHALLENGE_TOKEN_BYTES; i++ ) CHECK( g_challenge_plaintext[i] == 0 );

    /* wrong sequence must fail */
    memcpy( dec, g_challenge_encrypted, sizeof( dec ) );
    CHECK( netcode_decrypt_challenge_token( dec, NETCODE_CHALLENGE_TOKEN_BYTES, CHALLENGE_SEQUENCE + 1, CHALLENGE_KEY ) != NETCODE_OK );

    /* independent libsodium call: chacha20poly1305 IETF, no AD, nonce = 4 zero bytes + LE64 sequence */
    {
        unsigned long long dlen = 0;
        CHECK( crypto_aead_chacha20poly1305_ietf_decrypt( dec, &dlen, NULL, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES,
                                                          NULL, 0, g_challenge_nonce, CHALLENGE_KEY ) == 0 );
        CHECK( dlen == NETCODE_CHALLENGE_TOKEN_BYTES - NETCODE_MAC_BYTES );
        CHECK( memcmp( dec, g_challenge_plaintext, dlen ) == 0 );
    }
}

static void emit_challenge_token( void )
{
    j_open( "challenge_token", '{' );
    j_open( "inputs", '{' );
    j_hex( "challenge_key", CHALLENGE_KEY, 32 );
    j_u64( "challenge_sequence", CHALLENGE_SEQUENCE );
    j_u64( "client_id", CLIENT_ID );
    j_hex( "user_data", USER_DATA, 256 );
    j_close( '}' );
    j_open( "outputs", '{' );
    j_hex( "nonce", g_challenge_nonce, 12 );
    j_hex( "plaintext", g_challenge_plaintext, NETCODE_CHALLENGE_TOKEN_BYTES );
    j_hex( "encrypted", g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES );
    j_close( '}' );
    j_close( '}' );
}

/* --------------------------------- packets ------------------------------- */

enum { C2S, S2C };

struct packet_spec
{
    const char * name;
    int type;
    int direction;
    uint64_t sequence;
    int client_index, max_clients;    /* keep alive */
    int payload_bytes;                /* payload */
    int payload_seed;                 /* payload byte i = (uint8_t)( i * 1 + seed ) ... see make_payload */
};

static void make_payload( uint8_t * buf, int n, int seed )
{
    int i;
    /* seed 0 reproduces the examples' pattern (byte i = (uint8_t) i) */
    for ( i = 0; i < n; i++ ) buf[i] = (uint8_t) ( i + seed );
}

static void emit_request_packet( void )
{
    struct netcode_connection_request_packet_t p;
    p.packet_type = NETCODE_CONNECTION_REQUEST_PACKET;
    memcpy( p.version_info, NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
    p.protocol_id = PROTOCOL_ID;
    p.connect_token_expire_timestamp = EXPIRE_TIMESTAMP;
    memcpy( p.connect_token_nonce, CONNECT_TOKEN_NONCE, 24 );
    memcpy( p.connect_token_data, g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );

    uint8_t buf[NETCODE_MAX_PACKET_BYTES * 2];
    int n = netcode_write_packet( &p, buf, sizeof( buf ), 0, SERVER_TO_CLIENT_KEY /* unused for type 0 */, PROTOCOL_ID );
    CHECK( n == 1078 );

    /* the request packet is the public token's first 13+8 bytes, then expire/nonce/private data */
    CHECK( buf[0] == 0 );
    CHECK( memcmp( buf + 1, g_public_token, 13 + 8 ) == 0 );
    CHECK( memcmp( buf + 1 + 13 + 8, g_public_token + 13 + 8 + 8, 8 + 24 + 1024 ) == 0 );

    /* read back as the server would */
    {
        uint8_t copy[sizeof( buf )];
        uint64_t seq = 99;
        memcpy( copy, buf, n );
        struct netcode_connection_request_packet_t * r = (struct netcode_connection_request_packet_t *)
            netcode_read_packet( copy, n, &seq, NULL, PROTOCOL_ID, CREATE_TIMESTAMP, PRIVATE_KEY, ALLOW_ALL, NULL, NULL, NULL );
        CHECK( r );
        CHECK( seq == 0 );
        CHECK( r->packet_type == NETCODE_CONNECTION_REQUEST_PACKET );
        CHECK( r->protocol_id == PROTOCOL_ID );
        CHECK( r->connect_token_expire_timestamp == EXPIRE_TIMESTAMP );
        CHECK( memcmp( r->connect_token_nonce, CONNECT_TOKEN_NONCE, 24 ) == 0 );
        /* read_packet decrypts the private token in place: first 1008 bytes are plaintext */
        CHECK( memcmp( r->connect_token_data, g_private_plaintext, 1008 ) == 0 );
        struct netcode_connect_token_private_t rp;
        CHECK( netcode_read_connect_token_private( r->connect_token_data, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES, &rp ) == NETCODE_OK );
        CHECK( rp.client_id == CLIENT_ID );
        free( r );

        /* expired (current == expire), wrong protocol, wrong size, tampered: all rejected */
        memcpy( copy, buf, n );
        CHECK( !netcode_read_packet( copy, n, &seq, NULL, PROTOCOL_ID, EXPIRE_TIMESTAMP, PRIVATE_KEY, ALLOW_ALL, NULL, NULL, NULL ) );
        memcpy( copy, buf, n );
        CHECK( !netcode_read_packet( copy, n, &seq, NULL, PROTOCOL_ID ^ 1, CREATE_TIMESTAMP, PRIVATE_KEY, ALLOW_ALL, NULL, NULL, NULL ) );
        memcpy( copy, buf, n );
        CHECK( !netcode_read_packet( copy, n - 1, &seq, NULL, PROTOCOL_ID, CREATE_TIMESTAMP, PRIVATE_KEY, ALLOW_ALL, NULL, NULL, NULL ) );
        memcpy( copy, buf, n );
        copy[n - 1] ^= 1;
        CHECK( !netcode_read_packet( copy, n, &seq, NULL, PROTOCOL_ID, CREATE_TIMESTAMP, PRIVATE_KEY, ALLOW_ALL, NULL, NULL, NULL ) );
    }

    j_open( NULL, '{' );
    j_str( "name", "connection_request" );
    j_str( "type", TYPE_NAMES[0] );
    j_u64( "type_number", 0 );
    j_str( "direction", "client_to_server" );
    j_u64( "protocol_id", PROTOCOL_ID );
    j_null( "key" );
    j_null( "sequence" );
    j_open( "fields", '{' );
    j_hex( "version_info", NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
    j_u64( "connect_token_expire_timestamp", EXPIRE_TIMESTAMP );
    j_hex( "connect_token_nonce", CONNECT_TOKEN_NONCE, 24 );
    j_hex( "connect_token_data", g_private_encrypted, NETCODE_CONNECT_TOKEN_PRIVATE_BYTES );
    j_close( '}' );
    j_open( "read_context", '{' );
    j_hex( "private_key", PRIVATE_KEY, 32 );
    j_u64( "current_timestamp", CREATE_TIMESTAMP );
    j_close( '}' );
    j_u64( "packet_bytes", (uint64_t) n );
    j_hex( "packet", buf, n );
    j_close( '}' );
}

static void emit_encrypted_packet( const struct packet_spec * s )
{
    uint8_t * key = ( s->direction == C2S ) ? CLIENT_TO_SERVER_KEY : SERVER_TO_CLIENT_KEY;
    uint8_t payload[NETCODE_MAX_PAYLOAD_BYTES];
    uint8_t plaintext[NETCODE_MAX_PAYLOAD_BYTES + 16];
    int plaintext_bytes = 0;
    void * packet = NULL;

    struct netcode_connection_denied_packet_t denied;
    struct netcode_connection_challenge_packet_t challenge;
    struct netcode_connection_response_packet_t response;
    struct netcode_connection_keep_alive_packet_t keep_alive;
    struct netcode_connection_disconnect_packet_t disconnect;
    struct netcode_connection_payload_packet_t * pl = NULL;

    switch ( s->type )
    {
        case NETCODE_CONNECTION_DENIED_PACKET:
            denied.packet_type = NETCODE_CONNECTION_DENIED_PACKET;
            packet = &denied;
            break;
        case NETCODE_CONNECTION_CHALLENGE_PACKET:
            challenge.packet_type = NETCODE_CONNECTION_CHALLENGE_PACKET;
            challenge.challenge_token_sequence = CHALLENGE_SEQUENCE;
            memcpy( challenge.challenge_token_data, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES );
            packet = &challenge;
            break;
        case NETCODE_CONNECTION_RESPONSE_PACKET:
            response.packet_type = NETCODE_CONNECTION_RESPONSE_PACKET;
            response.challenge_token_sequence = CHALLENGE_SEQUENCE;
            memcpy( response.challenge_token_data, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES );
            packet = &response;
            break;
        case NETCODE_CONNECTION_KEEP_ALIVE_PACKET:
            keep_alive.packet_type = NETCODE_CONNECTION_KEEP_ALIVE_PACKET;
            keep_alive.client_index = s->client_index;
            keep_alive.max_clients = s->max_clients;
            packet = &keep_alive;
            break;
        case NETCODE_CONNECTION_PAYLOAD_PACKET:
            make_payload( payload, s->payload_bytes, s->payload_seed );
            pl = netcode_create_payload_packet( s->payload_bytes, NULL, NULL );
            CHECK( pl );
            memcpy( pl->payload_data, payload, s->payload_bytes );
            packet = pl;
            break;
        case NETCODE_CONNECTION_DISCONNECT_PACKET:
            disconnect.packet_type = NETCODE_CONNECTION_DISCONNECT_PACKET;
            packet = &disconnect;
            break;
        default:
            CHECK( 0 );
    }

    /* expected per-packet plaintext, built from STANDARD.md with the reference's own writers */
    {
        uint8_t * p = plaintext;
        if ( s->type == NETCODE_CONNECTION_CHALLENGE_PACKET || s->type == NETCODE_CONNECTION_RESPONSE_PACKET )
        {
            netcode_write_uint64( &p, CHALLENGE_SEQUENCE );
            netcode_write_bytes( &p, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES );
        }
        else if ( s->type == NETCODE_CONNECTION_KEEP_ALIVE_PACKET )
        {
            netcode_write_uint32( &p, (uint32_t) s->client_index );
            netcode_write_uint32( &p, (uint32_t) s->max_clients );
        }
        else if ( s->type == NETCODE_CONNECTION_PAYLOAD_PACKET )
        {
            netcode_write_bytes( &p, payload, s->payload_bytes );
        }
        plaintext_bytes = (int) ( p - plaintext );
    }

    uint8_t buf[NETCODE_MAX_PACKET_BYTES];
    int n = netcode_write_packet( packet, buf, sizeof( buf ), s->sequence, key, PROTOCOL_ID );
    CHECK( n > 0 );

    int sequence_bytes = netcode_sequence_number_bytes_required( s->sequence );
    uint8_t prefix = (uint8_t) ( s->type | ( sequence_bytes << 4 ) );
    CHECK( buf[0] == prefix );
    CHECK( n == 1 + sequence_bytes + plaintext_bytes + NETCODE_MAC_BYTES );
    {
        /* minimal little-endian sequence encoding */
        int i;
        uint64_t v = 0;
        for ( i = 0; i < sequence_bytes; i++ ) v |= ( (uint64_t) buf[1 + i] ) << ( 8 * i );
        CHECK( v == s->sequence );
        CHECK( sequence_bytes == 1 || buf[sequence_bytes] != 0 );
    }

    uint8_t ad[NETCODE_VERSION_INFO_BYTES + 8 + 1];
    uint8_t nonce[12];
    {
        uint8_t * p = ad;
        netcode_write_bytes( &p, NETCODE_VERSION_INFO, NETCODE_VERSION_INFO_BYTES );
        netcode_write_uint64( &p, PROTOCOL_ID );
        netcode_write_uint8( &p, prefix );
        p = nonce;
        netcode_write_uint32( &p, 0 );
        netcode_write_uint64( &p, s->sequence );
    }

    /* independent libsodium decrypt with the documented AD / nonce */
    {
        uint8_t dec[NETCODE_MAX_PACKET_BYTES];
        unsigned long long dlen = 0;
        CHECK( crypto_aead_chacha20poly1305_ietf_decrypt( dec, &dlen, NULL, buf + 1 + sequence_bytes, (unsigned long long) ( n - 1 - sequence_bytes ),
                                                          ad, sizeof( ad ), nonce, key ) == 0 );
        CHECK( (int) dlen == plaintext_bytes );
        CHECK( memcmp( dec, plaintext, plaintext_bytes ) == 0 );
    }

    /* read back through the reference reader (with fresh replay protection too) */
    {
        uint8_t copy[NETCODE_MAX_PACKET_BYTES];
        uint64_t seq = 0;
        struct netcode_replay_protection_t rp;
        netcode_replay_protection_reset( &rp );

        memcpy( copy, buf, n );
        void * r = netcode_read_packet( copy, n, &seq, key, PROTOCOL_ID, CREATE_TIMESTAMP, NULL, ALLOW_ALL, &rp, NULL, NULL );
        CHECK( r );
        CHECK( seq == s->sequence );
        CHECK( ( (uint8_t *) r )[0] == s->type );
        switch ( s->type )
        {
            case NETCODE_CONNECTION_CHALLENGE_PACKET:
            {
                struct netcode_connection_challenge_packet_t * c = (struct netcode_connection_challenge_packet_t *) r;
                CHECK( c->challenge_token_sequence == CHALLENGE_SEQUENCE );
                CHECK( memcmp( c->challenge_token_data, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES ) == 0 );
                uint8_t t[NETCODE_CHALLENGE_TOKEN_BYTES];
                memcpy( t, c->challenge_token_data, sizeof( t ) );
                CHECK( netcode_decrypt_challenge_token( t, sizeof( t ), c->challenge_token_sequence, CHALLENGE_KEY ) == NETCODE_OK );
                struct netcode_challenge_token_t ct;
                CHECK( netcode_read_challenge_token( t, sizeof( t ), &ct ) == NETCODE_OK );
                CHECK( ct.client_id == CLIENT_ID );
            }
            break;
            case NETCODE_CONNECTION_RESPONSE_PACKET:
            {
                struct netcode_connection_response_packet_t * c = (struct netcode_connection_response_packet_t *) r;
                CHECK( c->challenge_token_sequence == CHALLENGE_SEQUENCE );
                CHECK( memcmp( c->challenge_token_data, g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES ) == 0 );
            }
            break;
            case NETCODE_CONNECTION_KEEP_ALIVE_PACKET:
            {
                struct netcode_connection_keep_alive_packet_t * k = (struct netcode_connection_keep_alive_packet_t *) r;
                CHECK( k->client_index == s->client_index );
                CHECK( k->max_clients == s->max_clients );
            }
            break;
            case NETCODE_CONNECTION_PAYLOAD_PACKET:
            {
                struct netcode_connection_payload_packet_t * q = (struct netcode_connection_payload_packet_t *) r;
                CHECK( (int) q->payload_bytes == s->payload_bytes );
                CHECK( memcmp( q->payload_data, payload, s->payload_bytes ) == 0 );
            }
            break;
            default:
                break;
        }
        free( r );

        /* replayed copy is rejected for types >= keep-alive */
        if ( s->type >= NETCODE_CONNECTION_KEEP_ALIVE_PACKET )
        {
            memcpy( copy, buf, n );
            void * again = netcode_read_packet( copy, n, &seq, key, PROTOCOL_ID, CREATE_TIMESTAMP, NULL, ALLOW_ALL, &rp, NULL, NULL );
            if ( s->sequence != UINT64_MAX )
                CHECK( again == NULL );
            else if ( again )
                /* reference quirk at this commit: UINT64_MAX is also the "empty slot" sentinel of the
                   replay buffer, so a replayed packet with sequence 2**64-1 is accepted again.
                   Not reachable in practice (sequences start at 0 or 2**63). Reported, not enforced. */
                fprintf( stderr, "gen_vectors: note: reference accepts a replay of %s (sequence 2**64-1 == replay sentinel)\n", s->name );
            free( again );
        }

        /* tampering with any region, the wrong key or the wrong protocol id is rejected */
        int k;
        int positions[3] = { 0, 1, n - 1 };
        for ( k = 0; k < 3; k++ )
        {
            memcpy( copy, buf, n );
            if ( k == 0 )   /* change the packet type, keep the sequence-length nibble: the prefix is in the AD */
                copy[0] = (uint8_t) ( ( copy[0] & 0xF0 ) | ( ( s->type == 1 ) ? 6 : 1 ) );
            else            /* k == 1: first sequence byte (the nonce); k == 2: last MAC byte */
                copy[positions[k]] ^= 0x01;
            CHECK( !netcode_read_packet( copy, n, &seq, key, PROTOCOL_ID, CREATE_TIMESTAMP, NULL, ALLOW_ALL, NULL, NULL, NULL ) );
        }
        memcpy( copy, buf, n );
        CHECK( !netcode_read_packet( copy, n, &seq, ( key == CLIENT_TO_SERVER_KEY ) ? SERVER_TO_CLIENT_KEY : CLIENT_TO_SERVER_KEY,
                                     PROTOCOL_ID, CREATE_TIMESTAMP, NULL, ALLOW_ALL, NULL, NULL, NULL ) );
        memcpy( copy, buf, n );
        CHECK( !netcode_read_packet( copy, n, &seq, key, PROTOCOL_ID + 1, CREATE_TIMESTAMP, NULL, ALLOW_ALL, NULL, NULL, NULL ) );
    }

    if ( pl ) free( pl );

    j_open( NULL, '{' );
    j_str( "name", s->name );
    j_str( "type", TYPE_NAMES[s->type] );
    j_u64( "type_number", (uint64_t) s->type );
    j_str( "direction", s->direction == C2S ? "client_to_server" : "server_to_client" );
    j_u64( "protocol_id", PROTOCOL_ID );
    j_hex( "key", key, 32 );
    j_u64( "sequence", s->sequence );
    j_open( "fields", '{' );
    if ( s->type == NETCODE_CONNECTION_CHALLENGE_PACKET || s->type == NETCODE_CONNECTION_RESPONSE_PACKET )
    {
        j_u64( "challenge_token_sequence", CHALLENGE_SEQUENCE );
        j_hex( "challenge_token_data", g_challenge_encrypted, NETCODE_CHALLENGE_TOKEN_BYTES );
    }
    else if ( s->type == NETCODE_CONNECTION_KEEP_ALIVE_PACKET )
    {
        j_u64( "client_index", (uint64_t) s->client_index );
        j_u64( "max_clients", (uint64_t) s->max_clients );
    }
    else if ( s->type == NETCODE_CONNECTION_PAYLOAD_PACKET )
    {
        j_u64( "payload_bytes", (uint64_t) s->payload_bytes );
        j_hex( "payload", payload, s->payload_bytes );
    }
    j_close( '}' );
    j_u64( "prefix_byte", prefix );
    j_u64( "sequence_bytes", (uint64_t) sequence_bytes );
    j_open( "aead", '{' );
    j_str( "algorithm", "chacha20poly1305_ietf" );
    j_hex( "nonce", nonce, 12 );
    j_hex( "associated_data", ad, sizeof( ad ) );
    j_hex( "plaintext", plaintext, plaintext_bytes );
    j_close( '}' );
    j_u64( "packet_bytes", (uint64_t) n );
    j_hex( "packet", buf, n );
    j_close( '}' );
}

static const struct packet_spec PACKETS[] = {
    /* name                                   type                                   dir  sequence                  ci  mc   bytes seed */
    { "connection_denied_global_seq",         NETCODE_CONNECTION_DENIED_PACKET,      S2C, 0x8000000000000001ULL,    0,  0,   0,    0 },
    { "connection_challenge_global_seq",      NETCODE_CONNECTION_CHALLENGE_PACKET,   S2C, 0x8000000000000000ULL,    0,  0,   0,    0 },
    { "connection_response_seq_1",            NETCODE_CONNECTION_RESPONSE_PACKET,    C2S, 1ULL,                     0,  0,   0,    0 },
    { "keep_alive_s2c_seq_0",                 NETCODE_CONNECTION_KEEP_ALIVE_PACKET,  S2C, 0ULL,                     3,  64,  0,    0 },
    { "keep_alive_c2s_seq_1000",              NETCODE_CONNECTION_KEEP_ALIVE_PACKET,  C2S, 1000ULL,                  0,  0,   0,    0 },
    { "keep_alive_s2c_seq_2p64m1",            NETCODE_CONNECTION_KEEP_ALIVE_PACKET,  S2C, 0xFFFFFFFFFFFFFFFFULL,    255,256, 0,    0 },
    { "payload_1_byte_seq_255",               NETCODE_CONNECTION_PAYLOAD_PACKET,     C2S, 255ULL,                   0,  0,   1,    0x5a },
    { "payload_100_bytes_seq_256",            NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 256ULL,                   0,  0,   100,  0x10 },
    { "payload_1200_bytes_seq_65535",         NETCODE_CONNECTION_PAYLOAD_PACKET,     C2S, 65535ULL,                 0,  0,   1200, 0 },
    { "payload_17_bytes_seq_65536",           NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 65536ULL,                 0,  0,   17,   0x20 },
    { "payload_3_bytes_seq_2p24m1",           NETCODE_CONNECTION_PAYLOAD_PACKET,     C2S, 0xFFFFFFULL,              0,  0,   3,    0x30 },
    { "payload_64_bytes_seq_2p24",            NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 0x1000000ULL,             0,  0,   64,   0x40 },
    { "payload_1200_bytes_seq_2p32",          NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 0x100000000ULL,           0,  0,   1200, 0 },
    { "payload_32_bytes_seq_2p40",            NETCODE_CONNECTION_PAYLOAD_PACKET,     C2S, 0x10000000000ULL,         0,  0,   32,   0x50 },
    { "payload_255_bytes_seq_2p48",           NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 0x1000000000000ULL,       0,  0,   255,  0x60 },
    { "payload_1_byte_seq_2p56",              NETCODE_CONNECTION_PAYLOAD_PACKET,     C2S, 0x100000000000000ULL,     0,  0,   1,    0x70 },
    { "payload_1200_bytes_seq_2p64m1",        NETCODE_CONNECTION_PAYLOAD_PACKET,     S2C, 0xFFFFFFFFFFFFFFFFULL,    0,  0,   1200, 0 },
    { "disconnect_c2s_seq_2",                 NETCODE_CONNECTION_DISCONNECT_PACKET,  C2S, 2ULL,                     0,  0,   0,    0 },
    { "disconnect_s2c_seq_2p56m1",            NETCODE_CONNECTION_DISCONNECT_PACKET,  S2C, 0xFFFFFFFFFFFFFFULL,      0,  0,   0,    0 },
};

/* --------------------------------- meta ---------------------------------- */

static void emit_meta( void )
{
    char date[64];
    time_t now;
    const char * sde = getenv( "SOURCE_DATE_EPOCH" );
    now = sde ? (time_t) strtoll( sde, NULL, 10 ) : time( NULL );
    struct tm tmv;
    gmtime_r( &now, &tmv );
    strftime( date, sizeof( date ), "%Y-%m-%dT%H:%M:%SZ", &tmv );

    char compiler[256];
#if defined( __clang__ )
    snprintf( compiler, sizeof( compiler ), "clang %s", __clang_version__ );
#elif defined( __GNUC__ )
    snprintf( compiler, sizeof( compiler ), "gcc %s", __VERSION__ );
#else
    snprintf( compiler, sizeof( compiler ), "unknown" );
#endif

    j_open( "meta", '{' );
    j_str( "description", "netcode.io 1.02 conformance vectors produced by the C reference implementation" );
    j_str( "reference_repository", "https://github.com/mas-bandwidth/netcode" );
    j_str( "reference_commit", NETCODE_REF_COMMIT );
    j_str( "reference_library_version", NETCODE_VERSION_FULL );
    j_str( "protocol_version", "NETCODE 1.02" );
    j_str( "compiler", compiler );
    j_str( "date", date );
    j_str( "generator", GENERATOR_PATH );
    j_str( "encoding", "all binary values are lowercase hex; integers are JSON numbers (uint64 values may exceed 2**53)" );
    j_open( "notes", '[' );
    j_str( NULL, "all integers on the wire are little-endian, including ports and each 16-bit IPv6 group: [2001:db8::]:50000 is written 02 | 01 20 b8 0d ... | 50 c3" );
    j_str( NULL, "private connect token: XChaCha20-Poly1305 (IETF) over bytes [0,1008) of the 1024-byte plaintext, MAC in [1008,1024); nonce = the 24-byte token nonce; AD = version_info(13) || LE64(protocol_id) || LE64(expire_timestamp)" );
    j_str( NULL, "packet types 1..6: ChaCha20-Poly1305 (IETF) over the per-type data; nonce = 00000000 || LE64(sequence); AD = version_info(13) || LE64(protocol_id) || prefix_byte; prefix_byte = type | (sequence_bytes << 4); sequence written in the minimal number of bytes, least significant first (0 -> 1 byte 00)" );
    j_str( NULL, "challenge token: ChaCha20-Poly1305 (IETF), no AD, nonce = 00000000 || LE64(challenge_sequence), over bytes [0,284), MAC in [284,300)" );
    j_str( NULL, "connection_request (type 0) is not encrypted: its key and sequence are null; the server reads it with read_context.private_key at read_context.current_timestamp (must be < expire_timestamp)" );
    j_str( NULL, "public and internal server address lists are identical here; the public token carries server_addresses, the private token internal_server_addresses" );
    j_str( NULL, "keys: client_to_server packets use connect_token.inputs.client_to_server_key, server_to_client packets use server_to_client_key" );
    j_close( ']' );
    j_close( '}' );
}

/* --------------------------------- main ---------------------------------- */

int main( int argc, char ** argv )
{
    /* write to <output>.tmp and rename only after every check passed, so a failed run never leaves a partial file */
    char tmp_path[4096];
    out = stdout;
    if ( argc > 1 )
    {
        snprintf( tmp_path, sizeof( tmp_path ), "%s.tmp", argv[1] );
        out = fopen( tmp_path, "w" );
        if ( !out ) { perror( tmp_path ); return 1; }
    }

    CHECK( netcode_init() == NETCODE_OK );
    netcode_log_level( NETCODE_LOG_LEVEL_NONE );

    init_fixed_inputs();
    build_connect_token();
    build_challenge_token();

    json_depth = 0;
    fputc( '{', out );
    json_first[++json_depth] = 1;

    emit_meta();
    emit_connect_token();
    emit_challenge_token();

    j_open( "packets", '[' );
    emit_request_packet();
    unsigned i;
    for ( i = 0; i < sizeof( PACKETS ) / sizeof( PACKETS[0] ); i++ )
        emit_encrypted_packet( &PACKETS[i] );
    j_close( ']' );

    j_close( '}' );
    fputc( '\n', out );

    if ( out != stdout )
    {
        CHECK( fclose( out ) == 0 );
        CHECK( rename( tmp_path, argv[1] ) == 0 );
    }

    netcode_term();

    fprintf( stderr, "gen_vectors: OK (%u packets + connect token + challenge token verified)\n",
             (unsigned) ( 1 + sizeof( PACKETS ) / sizeof( PACKETS[0] ) ) );
    return 0;
}
