# Generates tests/data/capture/*.pcap* (kept in the repo; regenerate with this script).
import struct, socket
from pcapgen import ip4, ip6, udp, tcp, eth, write_pcap
def hep(payload):
    def ch(t,v): return struct.pack('!HHH',0,t,6+len(v))+v
    b=ch(1,b'\x02')+ch(2,b'\x11')+ch(3,socket.inet_aton('198.51.100.1'))+ch(4,socket.inet_aton('198.51.100.2'))+ch(7,struct.pack('!H',5060))+ch(8,struct.pack('!H',5060))+ch(9,struct.pack('!I',1700000100))+ch(10,struct.pack('!I',0))+ch(11,b'\x01')+ch(12,struct.pack('!I',7))+ch(15,payload)
    return b'HEP3'+struct.pack('!H',6+len(b))+b
def sip(first, body=b''):
    return first+b'\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nCall-ID: fixture@192.0.2.1\r\nCSeq: 1 '+first.split(b' ')[0]+b'\r\nContent-Length: '+str(len(body)).encode()+b'\r\n\r\n'+body
INV=sip(b'INVITE sip:bob@example.com SIP/2.0', b'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n')
OK=sip(b'SIP/2.0 200 OK')
OPT=sip(b'OPTIONS sip:ping@example.com SIP/2.0')
MSG=sip(b'MESSAGE sip:bob@example.com SIP/2.0', b'x'*1400+b'\r\n')
A,B='192.0.2.1','192.0.2.2'
frames=[
 eth(ip4(A,B,17,udp(5060,5060,INV))),
 eth(ip4(B,A,17,udp(5060,5060,OK)),0x0800,(0x8100,)),
 eth(ip6('2001:db8::1','2001:db8::2',17,udp(5070,5060,OPT)),0x86dd),
 eth(ip4(A,B,6,tcp(41000,5060,1000,0x02,b''))),
 eth(ip4(A,B,6,tcp(41000,5060,1001,0x18,OPT+OK))),
 eth(ip4(A,B,6,tcp(41000,5060,1001+len(OPT+OK),0x18,INV[:60]))),
 eth(ip4(A,B,6,tcp(41000,5060,1001+len(OPT+OK)+60,0x18,INV[60:]))),
 eth(ip4(A,B,6,tcp(41000,5060,1001+len(OPT+OK+INV),0x11,b''))),
]
u=udp(5060,5060,MSG)
frames+=[eth(ip4(A,B,17,u[:800],77,0x2000|0)), eth(ip4(A,B,17,u[800:],77,100))]
frames+=[eth(ip4(A,B,17,udp(5060,5060,b'\r\n\r\n'))),
         eth(ip4('10.0.0.1','10.0.0.2',17,udp(40000,9060,hep(INV)))),
         eth(ip4(A,B,17,udp(53,33333,b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00')))]
EXPECTED=8
def pcap(path, frames, cut=None): return write_pcap(path, frames, usec=500000, cut=cut)
full=pcap('mixed.pcap',frames)
# cut in the middle of frame 6's data
off=24+sum(16+len(f) for f in frames[:5])+16+20
pcap('mixed_truncated.pcap',frames,off)
# pcapng, big-endian this time (SHB+IDB+EPB per frame)
def ng(path,frames):
    shb=struct.pack('>IIIHHq',0x0A0D0D0A,28,0x1A2B3C4D,1,0,-1)+struct.pack('>I',28)
    idb=struct.pack('>IIHHI',1,20,1,0,65535)+struct.pack('>I',20)
    out=shb+idb
    for i,f in enumerate(frames):
        pad=(4-len(f)%4)%4; blen=32+len(f)+pad
        t=(1700000000+i)*1000000+500000
        out+=struct.pack('>IIIIIII',6,blen,0,t>>32,t&0xffffffff,len(f),len(f))+f+b'\0'*pad+struct.pack('>I',blen)
    open(path,'wb').write(out)
ng('mixed.pcapng',frames)
open('not_a_capture.txt','wb').write(b'INVITE sip:bob@example.com SIP/2.0\r\n\r\nthis is a SIP message, not a capture file\n')
print(len(frames),'frames, expect',EXPECTED)
