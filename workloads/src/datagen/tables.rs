//! Fixed vocabulary of the synthetic dataset: places, menus, names and texts.

/// A 구 (or a 경기도 city's 구) with its approximate centre and a few 동.
pub struct District {
    /// The `district` column value.
    pub name: &'static str,
    /// Address prefix before the district (`서울특별시`, `경기도 성남시`).
    pub city: &'static str,
    /// Relative order volume.
    pub weight: f64,
    pub lat: f64,
    pub lng: f64,
    pub dongs: &'static [&'static str],
}

impl District {
    /// The `district` column value (`성남시 분당구` for a 경기도 city's 구).
    pub fn column(&self) -> String {
        match self.city.strip_prefix("경기도 ") {
            Some(city) => format!("{city} {}", self.name),
            None => self.name.to_string(),
        }
    }
}

macro_rules! district {
    ($name:literal, $city:literal, $w:literal, $lat:literal, $lng:literal, [$($dong:literal),+]) => {
        District { name: $name, city: $city, weight: $w, lat: $lat, lng: $lng, dongs: &[$($dong),+] }
    };
}

pub const DISTRICTS: &[District] = &[
    district!(
        "강남구",
        "서울특별시",
        1.6,
        37.5172,
        127.0473,
        ["역삼동", "삼성동", "논현동", "대치동"]
    ),
    district!(
        "강동구",
        "서울특별시",
        1.0,
        37.5301,
        127.1238,
        ["천호동", "길동", "명일동"]
    ),
    district!(
        "강북구",
        "서울특별시",
        0.7,
        37.6396,
        127.0257,
        ["미아동", "수유동", "번동"]
    ),
    district!(
        "강서구",
        "서울특별시",
        1.2,
        37.5509,
        126.8495,
        ["화곡동", "등촌동", "마곡동"]
    ),
    district!(
        "관악구",
        "서울특별시",
        1.3,
        37.4784,
        126.9516,
        ["신림동", "봉천동", "남현동"]
    ),
    district!(
        "광진구",
        "서울특별시",
        1.1,
        37.5385,
        127.0823,
        ["자양동", "구의동", "화양동"]
    ),
    district!(
        "구로구",
        "서울특별시",
        0.9,
        37.4954,
        126.8874,
        ["구로동", "신도림동", "개봉동"]
    ),
    district!(
        "금천구",
        "서울특별시",
        0.7,
        37.4569,
        126.8955,
        ["가산동", "독산동", "시흥동"]
    ),
    district!(
        "노원구",
        "서울특별시",
        1.0,
        37.6542,
        127.0568,
        ["상계동", "중계동", "하계동"]
    ),
    district!(
        "도봉구",
        "서울특별시",
        0.6,
        37.6688,
        127.0471,
        ["창동", "쌍문동", "방학동"]
    ),
    district!(
        "동대문구",
        "서울특별시",
        0.9,
        37.5744,
        127.0400,
        ["회기동", "전농동", "장안동"]
    ),
    district!(
        "동작구",
        "서울특별시",
        1.0,
        37.5124,
        126.9393,
        ["사당동", "상도동", "노량진동"]
    ),
    district!(
        "마포구",
        "서울특별시",
        1.4,
        37.5663,
        126.9019,
        ["합정동", "망원동", "연남동", "서교동"]
    ),
    district!(
        "서대문구",
        "서울특별시",
        0.9,
        37.5791,
        126.9368,
        ["신촌동", "연희동", "홍은동"]
    ),
    district!(
        "서초구",
        "서울특별시",
        1.3,
        37.4837,
        127.0324,
        ["서초동", "반포동", "방배동"]
    ),
    district!(
        "성동구",
        "서울특별시",
        1.0,
        37.5633,
        127.0371,
        ["성수동", "왕십리동", "금호동"]
    ),
    district!(
        "성북구",
        "서울특별시",
        0.9,
        37.5894,
        127.0167,
        ["성북동", "정릉동", "길음동"]
    ),
    district!(
        "송파구",
        "서울특별시",
        1.5,
        37.5145,
        127.1059,
        ["잠실동", "가락동", "문정동"]
    ),
    district!(
        "양천구",
        "서울특별시",
        0.9,
        37.5170,
        126.8665,
        ["목동", "신월동", "신정동"]
    ),
    district!(
        "영등포구",
        "서울특별시",
        1.2,
        37.5264,
        126.8962,
        ["여의도동", "당산동", "문래동"]
    ),
    district!(
        "용산구",
        "서울특별시",
        0.8,
        37.5324,
        126.9900,
        ["이태원동", "한남동", "후암동"]
    ),
    district!(
        "은평구",
        "서울특별시",
        0.9,
        37.6027,
        126.9291,
        ["불광동", "응암동", "진관동"]
    ),
    district!(
        "종로구",
        "서울특별시",
        0.6,
        37.5735,
        126.9790,
        ["혜화동", "평창동", "삼청동"]
    ),
    district!(
        "중구",
        "서울특별시",
        0.6,
        37.5641,
        126.9979,
        ["명동", "신당동", "을지로동"]
    ),
    district!(
        "중랑구",
        "서울특별시",
        0.8,
        37.6063,
        127.0925,
        ["면목동", "상봉동", "망우동"]
    ),
    district!(
        "분당구",
        "경기도 성남시",
        1.2,
        37.3827,
        127.1189,
        ["정자동", "서현동", "수내동"]
    ),
    district!(
        "일산동구",
        "경기도 고양시",
        0.8,
        37.6585,
        126.7750,
        ["장항동", "마두동", "백석동"]
    ),
    district!(
        "영통구",
        "경기도 수원시",
        0.8,
        37.2596,
        127.0467,
        ["영통동", "매탄동", "원천동"]
    ),
];

/// A menu category with main dishes, sides, and which side goes with which main.
pub struct Category {
    pub name: &'static str,
    /// Relative volume at ordinary hours.
    pub weight: f64,
    /// Extra weight late at night (22–02 h): the 치킨/야식 bump.
    pub late_night: f64,
    /// Kitchen time before pickup, minutes.
    pub prep_min: f64,
    pub name_words: &'static [&'static str],
    pub mains: &'static [(&'static str, i64)],
    pub sides: &'static [(&'static str, i64)],
    /// (main index, side index, probability the side is added with that main).
    pub pairs: &'static [(usize, usize, f64)],
}

pub const CATEGORIES: &[Category] = &[
    Category {
        name: "치킨",
        weight: 1.6,
        late_night: 2.5,
        prep_min: 18.0,
        name_words: &["치킨", "통닭"],
        mains: &[
            ("후라이드치킨", 20000),
            ("양념치킨", 21000),
            ("간장치킨", 22000),
            ("반반치킨", 21000),
            ("순살치킨", 22000),
        ],
        sides: &[
            ("콜라 1.25L", 2500),
            ("치킨무", 500),
            ("감자튀김", 4000),
            ("치즈볼", 5000),
        ],
        pairs: &[
            (0, 0, 0.55),
            (1, 0, 0.55),
            (2, 0, 0.5),
            (3, 0, 0.55),
            (4, 0, 0.5),
            (0, 1, 0.2),
            (3, 3, 0.25),
        ],
    },
    Category {
        name: "피자",
        weight: 1.0,
        late_night: 0.6,
        prep_min: 20.0,
        name_words: &["피자", "피자하우스"],
        mains: &[
            ("페퍼로니피자", 22000),
            ("콤비네이션피자", 24000),
            ("불고기피자", 25000),
            ("포테이토피자", 25000),
        ],
        sides: &[
            ("콜라 1.25L", 2500),
            ("갈릭디핑소스", 500),
            ("치즈오븐스파게티", 7000),
        ],
        pairs: &[
            (0, 0, 0.5),
            (1, 0, 0.5),
            (2, 0, 0.45),
            (3, 1, 0.4),
            (1, 2, 0.15),
        ],
    },
    Category {
        name: "한식",
        weight: 1.4,
        late_night: 0.3,
        prep_min: 15.0,
        name_words: &["밥상", "한식당", "식당"],
        mains: &[
            ("김치찌개", 9000),
            ("된장찌개", 9000),
            ("제육볶음", 10000),
            ("불고기정식", 12000),
            ("비빔밥", 9500),
        ],
        sides: &[("공깃밥", 1000), ("계란말이", 6000)],
        pairs: &[(0, 0, 0.45), (1, 0, 0.45), (2, 0, 0.5), (2, 1, 0.15)],
    },
    Category {
        name: "중식",
        weight: 1.2,
        late_night: 0.4,
        prep_min: 12.0,
        name_words: &["반점", "각", "성"],
        mains: &[
            ("짜장면", 7000),
            ("짬뽕", 8000),
            ("탕수육", 18000),
            ("볶음밥", 8000),
        ],
        sides: &[("군만두", 6000), ("콜라 500ml", 2000)],
        pairs: &[(0, 0, 0.3), (1, 0, 0.25), (2, 1, 0.3)],
    },
    Category {
        name: "일식",
        weight: 0.8,
        late_night: 0.3,
        prep_min: 17.0,
        name_words: &["스시", "돈카츠", "우동"],
        mains: &[
            ("초밥세트", 18000),
            ("돈카츠", 11000),
            ("연어덮밥", 13000),
            ("우동", 8000),
        ],
        sides: &[("미소된장국", 2000), ("새우튀김", 6000)],
        pairs: &[(0, 0, 0.3), (3, 1, 0.4), (1, 1, 0.15)],
    },
    Category {
        name: "분식",
        weight: 1.2,
        late_night: 0.8,
        prep_min: 10.0,
        name_words: &["분식", "떡볶이"],
        mains: &[
            ("떡볶이", 5000),
            ("김밥", 3500),
            ("라볶이", 6000),
            ("쫄면", 6000),
        ],
        sides: &[("순대", 5000), ("튀김모둠", 6000), ("어묵", 3000)],
        pairs: &[(0, 0, 0.55), (0, 1, 0.35), (2, 1, 0.3), (1, 2, 0.2)],
    },
    Category {
        name: "족발·보쌈",
        weight: 0.8,
        late_night: 1.6,
        prep_min: 15.0,
        name_words: &["족발", "보쌈"],
        mains: &[
            ("족발(중)", 33000),
            ("보쌈(중)", 30000),
            ("반반족발보쌈", 38000),
        ],
        sides: &[("막국수", 7000), ("주먹밥", 3000)],
        pairs: &[(0, 0, 0.45), (1, 0, 0.4), (2, 0, 0.5), (0, 1, 0.2)],
    },
    Category {
        name: "카페·디저트",
        weight: 1.0,
        late_night: 0.2,
        prep_min: 8.0,
        name_words: &["카페", "베이커리", "커피"],
        mains: &[
            ("아메리카노", 4000),
            ("카페라떼", 4500),
            ("딸기케이크", 7000),
            ("티라미수", 6500),
        ],
        sides: &[("크로플", 5500), ("마카롱", 2500)],
        pairs: &[(0, 0, 0.4), (1, 0, 0.35), (1, 1, 0.2)],
    },
    Category {
        name: "패스트푸드",
        weight: 1.1,
        late_night: 0.7,
        prep_min: 8.0,
        name_words: &["버거", "버거하우스"],
        mains: &[
            ("불고기버거 세트", 7500),
            ("치즈버거 세트", 7000),
            ("치킨버거 세트", 7800),
        ],
        sides: &[("감자튀김", 2500), ("콜라 500ml", 2000), ("치킨너겟", 3000)],
        pairs: &[(0, 2, 0.3), (1, 0, 0.25), (2, 1, 0.2)],
    },
    Category {
        name: "야식",
        weight: 0.6,
        late_night: 3.0,
        prep_min: 16.0,
        name_words: &["포차", "닭발", "곱창"],
        mains: &[
            ("닭발", 18000),
            ("곱창볶음", 22000),
            ("막창구이", 20000),
            ("오돌뼈", 17000),
        ],
        sides: &[("주먹밥", 3000), ("계란찜", 4000)],
        pairs: &[(0, 0, 0.5), (0, 1, 0.35), (1, 0, 0.3), (3, 0, 0.4)],
    },
];

pub const NAME_PREFIXES: &[&str] = &[
    "원조",
    "황금",
    "동네",
    "맛있는",
    "행복한",
    "옛날",
    "할매",
    "신선",
    "우리집",
    "명품",
    "바삭",
    "착한",
];

pub const SURNAMES: &[(&str, f64)] = &[
    ("김", 21.5),
    ("이", 14.7),
    ("박", 8.4),
    ("최", 4.7),
    ("정", 4.3),
    ("강", 2.4),
    ("조", 2.1),
    ("윤", 2.1),
    ("장", 2.0),
    ("임", 1.7),
    ("한", 1.5),
    ("오", 1.5),
    ("서", 1.4),
    ("신", 1.4),
    ("권", 1.4),
    ("황", 1.4),
    ("안", 1.3),
    ("송", 1.3),
    ("류", 1.2),
    ("홍", 1.1),
];

pub const GIVEN_LAST: &[&str] = &[
    "수", "민", "영", "현", "준", "진", "희", "우", "호", "은", "연", "아", "서", "윤", "원", "혁",
];

pub const PAYMENT_METHODS: &[(&str, f64)] = &[
    ("카드", 38.0),
    ("배민페이", 24.0),
    ("카카오페이", 14.0),
    ("네이버페이", 11.0),
    ("토스페이", 8.0),
    ("현금", 5.0),
];

pub const PLATFORMS: &[(&str, f64)] = &[
    ("배민1", 42.0),
    ("배민배달", 31.0),
    ("가게배달", 17.0),
    ("포장", 10.0),
];

pub const CUSTOMER_LINES: &[&str] = &[
    "단무지 많이 주세요",
    "배달 언제 오나요?",
    "문 앞에 놓아주세요",
    "벨 누르지 말고 노크해 주세요",
    "맵기 조절 가능할까요?",
    "수저는 빼주세요",
    "음식이 식어서 왔어요",
    "주문한 메뉴가 하나 빠졌어요",
    "감사합니다! 잘 먹을게요",
    "리뷰 이벤트 참여할게요, 음료 부탁드려요",
    "공동현관 비밀번호는 1234#입니다",
    "아직 출발 안 했나요?",
];

pub const RESTAURANT_LINES: &[&str] = &[
    "주문 확인했습니다. 맛있게 준비할게요!",
    "요청사항 확인했습니다",
    "재료 소진으로 조리가 조금 늦어질 수 있습니다. 죄송합니다",
    "서비스로 음료 넣어드렸어요",
    "불편을 드려 죄송합니다. 다음 주문 때 꼭 챙겨드릴게요",
    "방금 라이더님께 전달했습니다",
];

pub const RIDER_LINES: &[&str] = &[
    "지금 픽업했습니다",
    "5분 내로 도착합니다",
    "건물 입구 비밀번호 알려주세요",
    "문 앞에 두고 갑니다",
    "길이 막혀 조금 늦어집니다. 죄송합니다",
];

pub const SYSTEM_LINES: &[&str] = &[
    "주문이 접수되었습니다",
    "라이더가 배정되었습니다",
    "배달이 완료되었습니다",
    "주문이 취소되었습니다",
];

/// Review texts by rating (index 0 = 1 star).
pub const REVIEW_TEXTS: [&[&str]; 5] = [
    &[
        "최악이에요 다시는 안 시켜요",
        "주문한 메뉴가 빠져 있었어요",
        "한 시간 넘게 걸렸어요",
    ],
    &[
        "배달이 너무 늦었어요",
        "음식이 식어서 왔어요",
        "양이 너무 적어요",
    ],
    &["보통이에요", "맛은 괜찮은데 양이 좀 적어요", "무난했어요"],
    &[
        "맛있었어요 다만 조금 늦었어요",
        "전체적으로 만족합니다",
        "양도 많고 괜찮아요",
    ],
    &[
        "정말 맛있어요! 또 시킬게요",
        "배달도 빠르고 음식도 따뜻했어요",
        "사장님이 친절하세요 최고",
        "인생 맛집입니다",
    ],
];

/// Log lifecycle and system events: (event, service, level, weight, message).
pub const LOG_EVENTS: &[(&str, &str, &str, f64, &str)] = &[
    ("ORDER_CREATED", "order-service", "INFO", 18.0, "주문 생성"),
    (
        "PAYMENT_APPROVED",
        "payment-service",
        "INFO",
        16.0,
        "결제 승인",
    ),
    (
        "PAYMENT_FAILED",
        "payment-service",
        "ERROR",
        1.0,
        "결제 실패: 카드 한도 초과",
    ),
    (
        "RESTAURANT_ACCEPTED",
        "order-service",
        "INFO",
        15.0,
        "가게 주문 수락",
    ),
    (
        "RIDER_ASSIGNED",
        "dispatch-service",
        "INFO",
        14.0,
        "배차 완료",
    ),
    ("PICKED_UP", "dispatch-service", "INFO", 13.0, "픽업 완료"),
    ("DELIVERED", "dispatch-service", "INFO", 13.0, "배달 완료"),
    ("CANCELLED", "order-service", "WARN", 1.0, "주문 취소"),
    (
        "NOTIFICATION_SENT",
        "notification-service",
        "DEBUG",
        5.0,
        "푸시 알림 발송",
    ),
    (
        "TIMEOUT",
        "api-gateway",
        "WARN",
        1.5,
        "외부 API 응답 시간 초과",
    ),
    ("RETRY", "api-gateway", "WARN", 1.5, "요청 재시도"),
    (
        "CIRCUIT_OPEN",
        "payment-service",
        "ERROR",
        0.5,
        "서킷 브레이커 열림",
    ),
];
